package auth

import (
	"context"
	"strings"
	"time"

	"github.com/casework/casework/internal/apperr"
)

// Credentials are what sign-in needs to know about an account.
type Credentials struct {
	UserID       string
	OrgID        string
	PasswordHash string
	Active       bool
}

// Session is one sign-in.
type Session struct {
	ID        string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshToken is the stored form of one refresh token of a session.
type RefreshToken struct {
	ID        string
	SessionID string
	Hash      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store persists sessions and refresh tokens and loads callers.
type Store interface {
	// FindCredentials returns the account signing in with email; NotFound.
	FindCredentials(ctx context.Context, email string) (Credentials, error)
	// CreateSession stores a new session and its first refresh token.
	CreateSession(ctx context.Context, s Session, first RefreshToken) error
	// RotateRefresh spends the refresh token whose hash is hash and stores
	// next (with next.SessionID filled in) in the same session. It returns the
	// session's user. A token that is unknown or expired, or whose session has
	// ended, is Unauthenticated; a spent token also revokes its session, and
	// that revocation is committed.
	RotateRefresh(ctx context.Context, hash string, next RefreshToken, now time.Time) (userID, sessionID string, err error)
	// RevokeSession ends a session.
	RevokeSession(ctx context.Context, sessionID, why string, now time.Time) error
	// LoadPrincipal returns the caller a verified token stands for;
	// Unauthenticated when its session has ended or its account or
	// organisation is no longer active.
	LoadPrincipal(ctx context.Context, v Verified, now time.Time) (Principal, error)
}

// TokenPair is what sign-in and refresh return.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int
	// UserID and OrgID name the account signed in to, or (with an error)
	// the existing account a failed sign-in was for: for the audit trail,
	// never sent.
	UserID string
	OrgID  string
}

// Service signs callers in and out and authenticates requests.
type Service struct {
	store         Store
	tokens        *Tokens
	hasher        *Hasher
	refreshTTL    time.Duration
	sessionMaxAge time.Duration
	now           func() time.Time
	newID         func() string
}

// NewService returns a Service.
func NewService(store Store, tokens *Tokens, hasher *Hasher, refreshTTL, sessionMaxAge time.Duration, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, tokens: tokens, hasher: hasher, refreshTTL: refreshTTL, sessionMaxAge: sessionMaxAge, now: now, newID: newID}
}

// errBadCredentials is the one answer to every failed sign-in, so an unknown
// email and a wrong password cannot be told apart.
var errBadCredentials = apperr.New(apperr.Unauthenticated, "email or password is incorrect")

// Login checks email and password and starts a session. Unauthenticated (the
// same for unknown email, wrong password and inactive account), Unavailable.
func (s *Service) Login(ctx context.Context, email, password string) (TokenPair, error) {
	creds, err := s.store.FindCredentials(ctx, strings.ToLower(strings.TrimSpace(email)))
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return TokenPair{}, err
	}
	// Always hash once, found or not, so timing does not tell either.
	ok, verr := s.hasher.Verify(ctx, password, creds.PasswordHash)
	if verr != nil {
		return TokenPair{}, verr
	}
	if err != nil || !ok || !creds.Active {
		return TokenPair{UserID: creds.UserID, OrgID: creds.OrgID}, errBadCredentials
	}
	now := s.now()
	session := Session{ID: s.newID(), UserID: creds.UserID, CreatedAt: now, ExpiresAt: now.Add(s.sessionMaxAge)}
	token, rt := s.newRefreshToken(session.ID, session.ExpiresAt, now)
	if err := s.store.CreateSession(ctx, session, rt); err != nil {
		return TokenPair{}, err
	}
	pair, err := s.pair(creds.UserID, session.ID, token)
	pair.OrgID = creds.OrgID
	return pair, err
}

// Refresh spends a refresh token and returns a new pair in the same session.
// Unauthenticated for an unknown, expired or spent token (a spent one also
// ends the session).
func (s *Service) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	if !strings.HasPrefix(refreshToken, RefreshTokenPrefix) || len(refreshToken) > 128 {
		return TokenPair{}, apperr.New(apperr.Unauthenticated, "invalid refresh token")
	}
	now := s.now()
	token, next := s.newRefreshToken("", now.Add(s.refreshTTL), now)
	userID, sessionID, err := s.store.RotateRefresh(ctx, HashOpaqueToken(refreshToken), next, now)
	if err != nil {
		return TokenPair{}, err
	}
	return s.pair(userID, sessionID, token)
}

// Logout ends the caller's session. Unauthenticated without a user session.
func (s *Service) Logout(ctx context.Context) error {
	p, ok := PrincipalFrom(ctx)
	if !ok || p.Kind != KindUser {
		return apperr.New(apperr.Unauthenticated, "no session to end")
	}
	return s.store.RevokeSession(ctx, p.SessionID, "logout", s.now())
}

// Authenticate verifies a bearer token and loads the caller fresh from the
// store. Unauthenticated.
func (s *Service) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	v, err := s.tokens.Verify(bearer)
	if err != nil {
		return Principal{}, err
	}
	return s.store.LoadPrincipal(ctx, v, s.now())
}

func (s *Service) newRefreshToken(sessionID string, expires, now time.Time) (string, RefreshToken) {
	token, hash := NewOpaqueToken(RefreshTokenPrefix)
	return token, RefreshToken{ID: s.newID(), SessionID: sessionID, Hash: hash, CreatedAt: now, ExpiresAt: expires}
}

func (s *Service) pair(userID, sessionID, refresh string) (TokenPair, error) {
	access, err := s.tokens.Issue(KindUser, userID, sessionID)
	if err != nil {
		return TokenPair{}, apperr.Wrap(apperr.Internal, "sign token", err)
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: int(s.tokens.TTL().Seconds()), UserID: userID}, nil
}
