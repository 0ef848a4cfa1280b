package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// translate turns a database error into an apperr code; what names the record
// for NotFound and Conflict messages.
func translate(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return apperr.Wrap(apperr.NotFound, what+" not found", err)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return apperr.Wrap(apperr.Conflict, what+" already exists", err)
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return apperr.Wrap(apperr.Invalid, "refers to a record that does not exist", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apperr.Wrap(apperr.Unavailable, "request cancelled or timed out", err)
	case isBusy(err):
		return &apperr.Error{Code: apperr.Unavailable, Message: "the database is busy; try again", RetryAfter: 1, Err: err}
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	return apperr.Wrap(apperr.Internal, "database error", err)
}

func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked")
}

// paged applies a page request to q: rows after the cursor (by idCol), changed
// at or after UpdatedSince (by updatedCol; "" when the list has no such
// filter), in id order, one more than the limit so the caller can tell
// whether a next page exists.
func paged(q *gorm.DB, r page.Request, idCol, updatedCol string) *gorm.DB {
	if r.After != "" {
		q = q.Where(idCol+" > ?", r.After)
	}
	if r.UpdatedSince != nil && updatedCol != "" {
		q = q.Where(updatedCol+" >= ?", *r.UpdatedSince)
	}
	return q.Order(idCol).Limit(r.Limit + 1)
}

// scoped limits q to the rows of scope by the organisation column col. The
// zero scope matches nothing.
func scoped(q *gorm.DB, scope tenant.Scope, col string) *gorm.DB {
	switch {
	case scope.IsAll():
		return q
	case scope.OrgID() != "":
		return q.Where(col+" = ?", scope.OrgID())
	default:
		return q.Where("1 = 0")
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
