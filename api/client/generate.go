// Package client is the Go client of the Casework API, generated from
// openapi.yaml by oapi-codegen: models and ClientWithResponses, whose methods
// are named after the spec's operationIds. Never edit client.gen.go by hand.
//
//	c, _ := client.NewClientWithResponses("https://casework.example.org",
//		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
//			r.Header.Set("Authorization", "Bearer "+token)
//			return nil
//		}))
//	res, _ := c.GetAssistanceReportWithResponse(ctx, &client.GetAssistanceReportParams{...})
package client

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../openapi.yaml
