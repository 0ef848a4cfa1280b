package store

import (
	"time"

	"gorm.io/gorm"
)

// farFuture is the end of a service that is still running, in the cases'
// activity span.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// counting is the condition that a service row s counts as assistance once
// its dates overlap a period.
const counting = "s.status IN ('in_progress', 'completed') AND s.started_on IS NOT NULL"

// refreshActivity recomputes active_from and active_to (the first start and
// the last end, farFuture while running, of the counting services) of the
// cases matched by where, inside the transaction that changed their services.
func refreshActivity(tx *gorm.DB, where string, args ...any) error {
	q := `UPDATE cases SET
		active_from = (SELECT min(s.started_on) FROM services s WHERE s.case_id = cases.id AND ` + counting + `),
		active_to = (SELECT max(coalesce(s.ended_on, ?)) FROM services s WHERE s.case_id = cases.id AND ` + counting + `)
		WHERE ` + where
	return tx.Exec(q, append([]any{farFuture}, args...)...).Error
}
