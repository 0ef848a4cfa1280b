// Package api holds the code generated from openapi.yaml: models, the echo
// strict-server interface, and the spec itself. Never edit *.gen.go by hand;
// change ../openapi.yaml and run `go generate ./...`.
package api

import _ "embed"

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../openapi.yaml
//go:generate cp ../openapi.yaml openapi.gen.yaml

// Spec is the OpenAPI document the server implements, served at /openapi.yaml.
//
//go:embed openapi.gen.yaml
var Spec []byte
