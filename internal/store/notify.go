package store

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/casework/casework/internal/config"
)

// PolicyChannel is the PostgreSQL notification channel on which every change
// to roles, accounts or organisations' activity is announced.
const PolicyChannel = "casework_policy"

// FollowPolicy calls reload whenever the authorization policy may have
// changed: on PostgreSQL at once, by LISTEN on PolicyChannel over its own
// connection (reconnecting after a loss, and reloading then, since changes
// may have been missed), and on every database every interval regardless.
// Requests already catch up by the policy version their principal carries;
// this keeps idle instances current too. It returns when ctx ends.
func FollowPolicy(ctx context.Context, cfg config.Config, interval time.Duration, reload func(context.Context) error, log *slog.Logger) {
	if cfg.Driver == config.Postgres {
		go listen(ctx, cfg.DatabaseURL, reload, log)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := reload(ctx); err != nil && ctx.Err() == nil {
				log.Error("reload the authorization policy", "error", err.Error())
			}
		}
	}
}

func listen(ctx context.Context, url string, reload func(context.Context) error, log *slog.Logger) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := listenOnce(ctx, url, reload)
		if ctx.Err() != nil {
			return
		}
		log.Warn("policy notifications lost; reconnecting", "error", err.Error(), "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// listenOnce listens until the connection fails; it reloads once listening
// has started, for changes made while it was not.
func listenOnce(ctx context.Context, url string, reload func(context.Context) error) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+PolicyChannel); err != nil {
		return err
	}
	if err := reload(ctx); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		if err := reload(ctx); err != nil {
			return err
		}
	}
}
