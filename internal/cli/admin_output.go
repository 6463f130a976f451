package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// This file holds the wire types of the administration API
// (docs/admin-api.md) and the output documents and tables of the principal,
// role and vault commands. The wire types follow the API (times in Unix
// seconds); the documents are the stable JSON the commands print (times in
// RFC 3339 UTC, lists never null).

// secretNote is printed with every client secret the server returns.
const secretNote = "The client secret is shown only once: store it now, it cannot be retrieved again."

// unixTime converts API seconds to a UTC time; 0 or nil is no time.
func unixTime(sec *int64) *time.Time {
	if sec == nil || *sec == 0 {
		return nil
	}
	t := time.Unix(*sec, 0).UTC()
	return &t
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func cellList(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

// Vaults.

// networkRules is the network rule set of a vault, on the wire and in output.
type networkRules struct {
	DefaultAction string   `json:"defaultAction"`
	IPRules       []string `json:"ipRules"`
}

// vaultWire is an API Vault.
type vaultWire struct {
	Name            string        `json:"name"`
	SKU             string        `json:"sku,omitempty"`
	RetentionDays   int           `json:"retentionDays,omitempty"`
	PurgeProtection bool          `json:"purgeProtection"`
	NetworkRules    *networkRules `json:"networkRules,omitempty"`
	KeyPolicy       *keyPolicy    `json:"keyPolicy,omitempty"`
	URI             string        `json:"uri,omitempty"`
	Created         int64         `json:"created,omitempty"`
}

// vaultPatch is the body of PATCH vaults/{name}: only the fields set change.
type vaultPatch struct {
	PurgeProtection *bool         `json:"purgeProtection,omitempty"`
	NetworkRules    *networkRules `json:"networkRules,omitempty"`
	KeyPolicy       *keyPolicy    `json:"keyPolicy,omitempty"`
}

// vaultDoc is the JSON document of one vault.
type vaultDoc struct {
	Name            string       `json:"name"`
	URL             string       `json:"url"`
	SKU             string       `json:"sku"`
	RetentionDays   int          `json:"retentionDays"`
	PurgeProtection bool         `json:"purgeProtection"`
	NetworkRules    networkRules `json:"networkRules"`
	KeyPolicy       *keyPolicy   `json:"keyPolicy,omitempty"`
	Created         *time.Time   `json:"created,omitempty"`
}

// vaultListDoc is the JSON document of vault list.
type vaultListDoc struct {
	Vaults []vaultDoc `json:"vaults"`
}

func newVaultDoc(v vaultWire) vaultDoc {
	d := vaultDoc{
		Name: v.Name, URL: v.URI, SKU: v.SKU, RetentionDays: v.RetentionDays, PurgeProtection: v.PurgeProtection,
		NetworkRules: networkRules{DefaultAction: "Allow", IPRules: []string{}},
		KeyPolicy:    v.KeyPolicy,
		Created:      unixTime(&v.Created),
	}
	if v.NetworkRules != nil {
		if v.NetworkRules.DefaultAction != "" {
			d.NetworkRules.DefaultAction = v.NetworkRules.DefaultAction
		}
		d.NetworkRules.IPRules = nonNil(v.NetworkRules.IPRules)
	}
	return d
}

// vaultTable draws vaults, one a row.
func vaultTable(vaults ...vaultDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "NAME", "SKU", "RETENTION-DAYS", "PURGE-PROTECTION", "DEFAULT-ACTION", "IP-RULES", "URL", "CREATED")
		for _, v := range vaults {
			row(w, v.Name, cell(v.SKU), fmt.Sprint(v.RetentionDays), fmt.Sprint(v.PurgeProtection),
				v.NetworkRules.DefaultAction, cellList(v.NetworkRules.IPRules), cell(v.URL), cellTime(v.Created))
		}
	}
}

// Principals.

// credentialWire is an API Credential; ClientSecret is set only in the
// answer that created a secret.
type credentialWire struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Created      int64  `json:"created,omitempty"`
	Expires      *int64 `json:"expires,omitempty"`
	Thumbprint   string `json:"thumbprint,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
}

// principalWire is an API Principal; ClientSecret is set only in the answer
// of POST principals.
type principalWire struct {
	ClientID     string           `json:"clientId"`
	ObjectID     string           `json:"objectId"`
	Name         string           `json:"name"`
	Disabled     bool             `json:"disabled"`
	Created      int64            `json:"created,omitempty"`
	Credentials  []credentialWire `json:"credentials"`
	ClientSecret string           `json:"clientSecret,omitempty"`
}

// credentialDoc is the JSON document of one credential. ClientID is set by
// credential add only; ClientSecret only when the server just created it.
type credentialDoc struct {
	ClientID     string     `json:"clientId,omitempty"`
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Created      *time.Time `json:"created,omitempty"`
	Expires      *time.Time `json:"expires,omitempty"`
	Thumbprint   string     `json:"thumbprint,omitempty"`
	ClientSecret string     `json:"clientSecret,omitempty"`
}

// principalDoc is the JSON document of one principal. ClientSecret is set
// by principal create only.
type principalDoc struct {
	ClientID     string          `json:"clientId"`
	ObjectID     string          `json:"objectId"`
	Name         string          `json:"name"`
	Disabled     bool            `json:"disabled"`
	Created      *time.Time      `json:"created,omitempty"`
	Credentials  []credentialDoc `json:"credentials"`
	ClientSecret string          `json:"clientSecret,omitempty"`
}

// principalListDoc is the JSON document of principal list.
type principalListDoc struct {
	Principals []principalDoc `json:"principals"`
}

func newCredentialDoc(c credentialWire) credentialDoc {
	return credentialDoc{
		ID: c.ID, Type: c.Type, Created: unixTime(&c.Created), Expires: unixTime(c.Expires),
		Thumbprint: c.Thumbprint, ClientSecret: c.ClientSecret,
	}
}

func newPrincipalDoc(p principalWire) principalDoc {
	d := principalDoc{
		ClientID: p.ClientID, ObjectID: p.ObjectID, Name: p.Name, Disabled: p.Disabled,
		Created: unixTime(&p.Created), Credentials: []credentialDoc{}, ClientSecret: p.ClientSecret,
	}
	for _, c := range p.Credentials {
		d.Credentials = append(d.Credentials, newCredentialDoc(c))
	}
	return d
}

// principalListTable draws principals, one a row.
func principalListTable(ps []principalDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "CLIENT-ID", "NAME", "OBJECT-ID", "DISABLED", "CREDENTIALS", "CREATED")
		for _, p := range ps {
			row(w, p.ClientID, p.Name, p.ObjectID, fmt.Sprint(p.Disabled), fmt.Sprint(len(p.Credentials)), cellTime(p.Created))
		}
	}
}

// principalTable draws one principal: its fields, its credentials and, after
// principal create, the client secret with the shown-once note.
func principalTable(p principalDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "CLIENT-ID", p.ClientID)
		row(w, "OBJECT-ID", p.ObjectID)
		row(w, "NAME", p.Name)
		row(w, "DISABLED", fmt.Sprint(p.Disabled))
		row(w, "CREATED", cellTime(p.Created))
		fmt.Fprintln(w)
		credentialRows(w, p.Credentials...)
		secretRows(w, p.ClientSecret)
	}
}

// credentialTable draws credentials and, after credential add --secret, the
// client secret with the shown-once note.
func credentialTable(cs ...credentialDoc) func(io.Writer) {
	return func(w io.Writer) {
		credentialRows(w, cs...)
		for _, c := range cs {
			secretRows(w, c.ClientSecret)
		}
	}
}

func credentialRows(w io.Writer, cs ...credentialDoc) {
	row(w, "CREDENTIAL-ID", "TYPE", "CREATED", "EXPIRES", "THUMBPRINT")
	for _, c := range cs {
		row(w, c.ID, c.Type, cellTime(c.Created), cellTime(c.Expires), cell(c.Thumbprint))
	}
}

func secretRows(w io.Writer, secret string) {
	if secret == "" {
		return
	}
	fmt.Fprintln(w)
	row(w, "CLIENT-SECRET", secret)
	fmt.Fprintln(w, secretNote)
}

// Roles.

// permission is one permission block of a role definition.
type permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// roleDefinition is an API RoleDefinition; it is also the JSON document
// the role commands print, with lists never null.
type roleDefinition struct {
	ID               string       `json:"id"`
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	Type             string       `json:"type"`
	Permissions      []permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

// roleListDoc is the JSON document of role list.
type roleListDoc struct {
	Roles []roleDefinition `json:"roles"`
}

// normalized returns r with empty lists instead of nil ones.
func (r roleDefinition) normalized() roleDefinition {
	perms := make([]permission, 0, len(r.Permissions))
	for _, p := range r.Permissions {
		perms = append(perms, permission{
			Actions: nonNil(p.Actions), NotActions: nonNil(p.NotActions),
			DataActions: nonNil(p.DataActions), NotDataActions: nonNil(p.NotDataActions),
		})
	}
	r.Permissions = perms
	r.AssignableScopes = nonNil(r.AssignableScopes)
	return r
}

// roleListTable draws role definitions, one a row.
func roleListTable(roles []roleDefinition) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "ID", "NAME", "TYPE")
		for _, r := range roles {
			row(w, r.ID, r.RoleName, r.Type)
		}
	}
}

// roleTable draws one role definition, a field a line and one data action a
// line.
func roleTable(r roleDefinition) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "ID", r.ID)
		row(w, "NAME", r.RoleName)
		row(w, "TYPE", r.Type)
		row(w, "DESCRIPTION", cell(r.Description))
		row(w, "ASSIGNABLE-SCOPES", cellList(r.AssignableScopes))
		lines := func(name string, values []string) {
			if len(values) == 0 {
				row(w, name, "-")
			}
			for i, v := range values {
				if i > 0 {
					name = ""
				}
				row(w, name, v)
			}
		}
		var actions, notActions, data, notData []string
		for _, p := range r.Permissions {
			actions = append(actions, p.Actions...)
			notActions = append(notActions, p.NotActions...)
			data = append(data, p.DataActions...)
			notData = append(notData, p.NotDataActions...)
		}
		if len(actions)+len(notActions) > 0 {
			lines("ACTIONS", actions)
			lines("NOT-ACTIONS", notActions)
		}
		lines("DATA-ACTIONS", data)
		lines("NOT-DATA-ACTIONS", notData)
	}
}

// Role assignments.

// assignmentWire is an API RoleAssignment. PrincipalIssuer is empty for
// the built-in issuer's principals.
type assignmentWire struct {
	ID               string `json:"id,omitempty"`
	PrincipalID      string `json:"principalId"`
	PrincipalIssuer  string `json:"principalIssuer,omitempty"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	Scope            string `json:"scope"`
	Created          int64  `json:"created,omitempty"`
}

// assignmentDoc is the JSON document of one role assignment. RoleName is
// set when the role definitions could be read.
type assignmentDoc struct {
	ID               string     `json:"id"`
	PrincipalID      string     `json:"principalId"`
	PrincipalIssuer  string     `json:"principalIssuer,omitempty"`
	RoleDefinitionID string     `json:"roleDefinitionId"`
	RoleName         string     `json:"roleName,omitempty"`
	Scope            string     `json:"scope"`
	Created          *time.Time `json:"created,omitempty"`
}

// assignmentListDoc is the JSON document of role assignments.
type assignmentListDoc struct {
	Assignments []assignmentDoc `json:"assignments"`
}

func newAssignmentDoc(a assignmentWire, roleNames map[string]string) assignmentDoc {
	return assignmentDoc{
		ID: a.ID, PrincipalID: a.PrincipalID, PrincipalIssuer: a.PrincipalIssuer, RoleDefinitionID: a.RoleDefinitionID,
		RoleName: roleNames[strings.ToLower(a.RoleDefinitionID)], Scope: a.Scope, Created: unixTime(&a.Created),
	}
}

// assignmentTable draws role assignments, one a row; ROLE is the role's
// name, or its id when the name is unknown. The principal of an external
// issuer is followed by that issuer in brackets.
func assignmentTable(as ...assignmentDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "ID", "PRINCIPAL-ID", "ROLE", "SCOPE", "CREATED")
		for _, a := range as {
			role := a.RoleName
			if role == "" {
				role = a.RoleDefinitionID
			}
			principal := a.PrincipalID
			if a.PrincipalIssuer != "" {
				principal += " [" + a.PrincipalIssuer + "]"
			}
			row(w, a.ID, principal, role, a.Scope, cellTime(a.Created))
		}
	}
}

// Deletions.

// deleteDoc is the JSON document of the admin delete commands: what was
// deleted (vault, principal, credential, roleDefinition, roleAssignment) and
// its name or id.
type deleteDoc struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func deleteTable(d deleteDoc) func(io.Writer) {
	return func(w io.Writer) {
		row(w, "TYPE", "ID", "DELETED")
		row(w, d.Type, d.ID, fmt.Sprint(d.Deleted))
	}
}
