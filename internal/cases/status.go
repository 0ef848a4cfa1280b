package cases

import (
	"time"

	"github.com/casework/casework/internal/apperr"
)

// closeCase moves c to closed with reason on day. Conflict when already
// closed; Invalid for an unknown reason or a day before the opening.
func closeCase(c *Case, reason string, on time.Time) error {
	if c.Status == StatusClosed {
		return apperr.New(apperr.Conflict, "the case is already closed")
	}
	var v apperr.Validator
	v.Check(contains(ClosureReasons, reason), "closure_reason", "is not a closure reason")
	v.Check(!on.Before(c.OpenedOn), "closed_on", "must not be before the opening date")
	if err := v.Err(); err != nil {
		return err
	}
	c.Status, c.ClosedOn, c.ClosureReason = StatusClosed, &on, &reason
	return nil
}

// reopen moves a closed case back to active when it has services, else open.
// Conflict unless closed.
func reopen(c *Case, hasServices bool) error {
	if c.Status != StatusClosed {
		return apperr.New(apperr.Conflict, "only a closed case can be reopened")
	}
	c.Status, c.ClosedOn, c.ClosureReason = StatusOpen, nil, nil
	if hasServices {
		c.Status = StatusActive
	}
	return nil
}

// StatusAfterService is the case status once a service is recorded (added)
// or changed, given whether every service of the case is now finished
// (completed or cancelled) and whether any was completed; the action names
// the move for the history ("" when the status stays). Adding a service to a
// closed case reopens it; changing one does not.
func StatusAfterService(current string, added, allFinished, anyCompleted bool) (next, action string) {
	working := StatusActive
	if allFinished && anyCompleted {
		working = StatusFollowUp
	}
	switch {
	case current == StatusClosed && added:
		return working, ActionReopenedByService
	case current == StatusClosed:
		return StatusClosed, ""
	case current == StatusOpen && allFinished && !anyCompleted:
		return StatusOpen, "" // only cancelled services: nothing was delivered
	case current != working:
		return working, ActionStatusChanged
	}
	return current, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
