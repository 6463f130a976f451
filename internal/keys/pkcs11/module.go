//go:build cgo

package pkcs11

import (
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/keywarden/keywarden/internal/keys"
)

// module is the part of *p11.Ctx the provider uses. Tests wrap it to
// inject faults.
type module interface {
	Initialize(opts ...p11.InitializeOption) error
	Finalize() error
	Destroy()
	GetSlotList(tokenPresent bool) ([]uint, error)
	GetTokenInfo(slotID uint) (p11.TokenInfo, error)
	GetMechanismList(slotID uint) ([]*p11.Mechanism, error)
	OpenSession(slotID uint, flags uint) (p11.SessionHandle, error)
	CloseSession(sh p11.SessionHandle) error
	GetSessionInfo(sh p11.SessionHandle) (p11.SessionInfo, error)
	Login(sh p11.SessionHandle, userType uint, pin string) error
	Logout(sh p11.SessionHandle) error
	CreateObject(sh p11.SessionHandle, temp []*p11.Attribute) (p11.ObjectHandle, error)
	DestroyObject(sh p11.SessionHandle, oh p11.ObjectHandle) error
	GetAttributeValue(sh p11.SessionHandle, o p11.ObjectHandle, a []*p11.Attribute) ([]*p11.Attribute, error)
	SetAttributeValue(sh p11.SessionHandle, o p11.ObjectHandle, a []*p11.Attribute) error
	FindObjectsInit(sh p11.SessionHandle, temp []*p11.Attribute) error
	FindObjects(sh p11.SessionHandle, max int) ([]p11.ObjectHandle, bool, error)
	FindObjectsFinal(sh p11.SessionHandle) error
	GenerateKey(sh p11.SessionHandle, m []*p11.Mechanism, temp []*p11.Attribute) (p11.ObjectHandle, error)
	GenerateKeyPair(sh p11.SessionHandle, m []*p11.Mechanism, public, private []*p11.Attribute) (p11.ObjectHandle, p11.ObjectHandle, error)
	SignInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error
	Sign(sh p11.SessionHandle, message []byte) ([]byte, error)
	EncryptInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error
	Encrypt(sh p11.SessionHandle, message []byte) ([]byte, error)
	DecryptInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error
	Decrypt(sh p11.SessionHandle, cipher []byte) ([]byte, error)
	WrapKey(sh p11.SessionHandle, m []*p11.Mechanism, wrappingkey, key p11.ObjectHandle) ([]byte, error)
	UnwrapKey(sh p11.SessionHandle, m []*p11.Mechanism, unwrappingkey p11.ObjectHandle, wrappedkey []byte, a []*p11.Attribute) (p11.ObjectHandle, error)
	DeriveKey(sh p11.SessionHandle, m []*p11.Mechanism, basekey p11.ObjectHandle, a []*p11.Attribute) (p11.ObjectHandle, error)
}

var _ module = (*p11.Ctx)(nil)

// errorKind classifies a PKCS#11 return value.
type errorKind int

const (
	// kindOther is any other error: a bug, a misconfigured token, or a
	// mechanism the token refuses. The session stays usable.
	kindOther errorKind = iota
	// kindUnavailable is a module, token or session failure: the session
	// is dropped and the caller gets keys.ErrUnavailable.
	kindUnavailable
	// kindHandle is a stale object handle: the provider looks the object
	// up again.
	kindHandle
	// kindInput is input the mechanism rejects (bad ciphertext, wrong
	// length).
	kindInput
)

// classify returns the kind of err, which a module method returned.
func classify(err error) errorKind {
	var rv p11.Error
	if !errors.As(err, &rv) {
		return kindOther
	}
	switch rv {
	case p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_MEMORY, p11.CKR_DEVICE_REMOVED,
		p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED,
		p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_SESSION_COUNT,
		p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_SLOT_ID_INVALID, p11.CKR_GENERAL_ERROR, p11.CKR_HOST_MEMORY,
		p11.CKR_FUNCTION_FAILED, p11.CKR_OPERATION_ACTIVE, p11.CKR_PIN_EXPIRED:
		return kindUnavailable
	case p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID:
		return kindHandle
	case p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		p11.CKR_DATA_INVALID, p11.CKR_DATA_LEN_RANGE,
		p11.CKR_WRAPPED_KEY_INVALID, p11.CKR_WRAPPED_KEY_LEN_RANGE:
		return kindInput
	}
	return kindOther
}

// unavailable wraps err, from the module call named op, in
// keys.ErrUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: pkcs11: %s: %w", keys.ErrUnavailable, op, err)
}
