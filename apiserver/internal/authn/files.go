package authn

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"kubelab.io/apiserver/internal/request"
)

// ErrInvalidCredentials is what a token or password authenticator answers to credentials of
// its kind it does not know; the chain then refuses the request (401) rather than trying the
// next authenticator or treating the client as anonymous, as Kubernetes does.
var ErrInvalidCredentials = errors.New("invalid credentials")

// TokenFile authenticates "Authorization: Bearer <token>" against a static token file
// (--token-auth-file), the CSV kube-apiserver reads: token,user,uid[,"group1,group2"].
type TokenFile struct {
	tokens map[string]*request.User
}

// NewTokenFile reads a token file.
func NewTokenFile(path string) (*TokenFile, error) {
	users, err := readCSVUsers(path, "token")
	if err != nil {
		return nil, err
	}
	return &TokenFile{tokens: users}, nil
}

func (t *TokenFile) Authenticate(_ context.Context, c Credentials) (*request.User, bool, error) {
	token, ok := bearerToken(c.Authorization)
	if !ok {
		return nil, false, nil
	}
	u, found := t.tokens[token]
	if !found {
		return nil, false, ErrInvalidCredentials
	}
	return copyUser(u), true, nil
}

// bearerToken returns the token of "Bearer <token>" (the scheme is case-insensitive).
func bearerToken(h string) (string, bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// BasicAuthFile authenticates "Authorization: Basic …" against a password file
// (--basic-auth-file): password,user,uid[,"group1,group2"]. Kubernetes removed basic
// authentication in 1.19 because static passwords are sent with every request, cannot be
// rotated without a restart and are often weak; kubelab keeps it, off by default, so a lab
// can show exactly that.
type BasicAuthFile struct {
	users map[string]basicUser // by user name
}

type basicUser struct {
	password string
	user     *request.User
}

// NewBasicAuthFile reads a password file.
func NewBasicAuthFile(path string) (*BasicAuthFile, error) {
	byPassword, err := readCSVUsers(path, "password")
	if err != nil {
		return nil, err
	}
	b := &BasicAuthFile{users: map[string]basicUser{}}
	for pw, u := range byPassword {
		b.users[u.Name] = basicUser{password: pw, user: u}
	}
	return b, nil
}

func (b *BasicAuthFile) Authenticate(_ context.Context, c Credentials) (*request.User, bool, error) {
	scheme, payload, found := strings.Cut(strings.TrimSpace(c.Authorization), " ")
	if !found || !strings.EqualFold(scheme, "basic") {
		return nil, false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return nil, false, ErrInvalidCredentials
	}
	name, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, false, ErrInvalidCredentials
	}
	u, found := b.users[name]
	if !found || subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) != 1 {
		return nil, false, ErrInvalidCredentials
	}
	return copyUser(u.user), true, nil
}

// readCSVUsers reads secret,user,uid[,groups] records keyed by their secret.
func readCSVUsers(path, secretName string) (map[string]*request.User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.Comment = '#'
	out := map[string]*request.User{}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("%s: record %d must have at least 3 columns (%s, user name, user uid), found %d", path, line, secretName, len(rec))
		}
		secret := rec[0]
		if secret == "" {
			return nil, fmt.Errorf("%s: record %d has an empty %s", path, line, secretName)
		}
		u := &request.User{Name: rec[1], UID: rec[2]}
		if len(rec) >= 4 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		out[secret] = u
	}
}

// copyUser returns a copy the chain may amend (it adds system:authenticated).
func copyUser(u *request.User) *request.User {
	c := *u
	c.Groups = append([]string(nil), u.Groups...)
	return &c
}
