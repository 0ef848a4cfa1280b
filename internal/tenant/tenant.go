// Package tenant carries which organisations' rows a store query may touch.
// Every store method takes a Scope; the zero Scope matches nothing, so a
// forgotten scope fails closed.
package tenant

// Scope limits a query to one organisation's rows, or (for IOM-wide functions)
// to all organisations.
type Scope struct {
	orgID string
	all   bool
}

// Org returns a scope of one organisation's rows.
func Org(orgID string) Scope { return Scope{orgID: orgID} }

// All returns a scope of every organisation's rows; only for callers whose
// role covers all organisations.
func All() Scope { return Scope{all: true} }

// IsAll reports whether the scope covers every organisation.
func (s Scope) IsAll() bool { return s.all }

// OrgID is the one organisation of the scope ("" for All or the zero Scope).
func (s Scope) OrgID() string { return s.orgID }

// Empty reports whether the scope matches nothing (the zero Scope).
func (s Scope) Empty() bool { return !s.all && s.orgID == "" }
