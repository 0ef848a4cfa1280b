package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// redocJS is Redoc's standalone bundle (MIT, see docs/redoc.standalone.js.LICENSE.txt),
// embedded so the reference page renders without any outside network.
//
//go:embed docs/redoc.standalone.js
var redocJS string

var docsPage = []byte(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Casework API reference</title>
<style>body { margin: 0; padding: 0; font-family: system-ui, sans-serif; }</style>
</head>
<body>
<noscript>This page needs JavaScript. The raw description is at <a href="/openapi.yaml">/openapi.yaml</a>.</noscript>
<div id="redoc"></div>
<script>` + redocJS + `</script>
<script>Redoc.init("/openapi.yaml", { hideDownloadButton: false, disableSearch: false }, document.getElementById("redoc"));</script>
</body>
</html>
`)

// serveDocs answers the reference page. Its scripts are inline and come only
// from this server; the policy below forbids loading anything from elsewhere.
func serveDocs(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy",
		"default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "+
			"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "public, max-age=300")
	return c.HTMLBlob(http.StatusOK, docsPage)
}
