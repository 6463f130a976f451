package api

import (
	"context"
	_ "embed" // the OpenAPI document
	"encoding/json"
)

// openAPI is the OpenAPI 3.0 description of the administration API. It must
// list exactly the routes of adminRouteTable (TestOpenAPIListsEveryRoute).
//
//go:embed openapi.json
var openAPI []byte

// adminOpenAPI serves the OpenAPI document; it needs no authentication.
func (s *Server) adminOpenAPI(ctx context.Context, rq *request, _ adminParams) (any, error) {
	rq.w.Header().Set("Cache-Control", "public, max-age=300")
	return json.RawMessage(openAPI), nil
}
