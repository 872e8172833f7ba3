package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"kubelab.io/apiserver/internal/request"
	"kubelab.io/proto/apierrors"
)

func TestParseImpersonation(t *testing.T) {
	cases := []struct {
		name    string
		header  http.Header
		want    *Impersonation
		wantErr string
	}{
		{"none", http.Header{"Accept": {"application/json"}}, nil, ""},
		{"empty user asks nothing", http.Header{"Impersonate-User": {""}}, nil, ""},
		{"user", http.Header{"Impersonate-User": {"bob"}}, &Impersonation{User: "bob"}, ""},
		{"everything", http.Header{
			"Impersonate-User": {"bob"}, "Impersonate-Group": {"devs", "ops"}, "Impersonate-Uid": {"u-1"},
			"Impersonate-Extra-Scopes": {"a", "b"}, "Impersonate-Extra-Example.com%2fteam": {"x"},
		}, &Impersonation{User: "bob", Groups: []string{"devs", "ops"}, UID: "u-1",
			Extra: map[string][]string{"scopes": {"a", "b"}, "example.com/team": {"x"}}}, ""},
		{"gRPC metadata keys", http.Header{"impersonate-user": {"bob"}, "impersonate-group": {"devs"}},
			&Impersonation{User: "bob", Groups: []string{"devs"}}, ""},
		{"group without user", http.Header{"Impersonate-Group": {"devs"}}, nil,
			"Internal error occurred: requested [{Group  devs    }] without impersonating a user"},
		{"uid and extra without user", http.Header{"Impersonate-Uid": {"u1"}, "Impersonate-Extra-Scopes": {"v"}}, nil,
			"Internal error occurred: requested [{UserExtra  v  authentication.k8s.io/v1  scopes} {UID  u1  authentication.k8s.io/v1  }] without impersonating a user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseImpersonation(c.header)
			if c.wantErr != "" {
				var se *apierrors.StatusError
				if !errors.As(err, &se) || se.ErrStatus.GetCode() != http.StatusInternalServerError || err.Error() != c.wantErr {
					t.Fatalf("err = %v, want 500 %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestImpersonationChecksAndIdentity(t *testing.T) {
	checkString := func(infos []*request.Info) []string {
		var out []string
		for _, i := range infos {
			out = append(out, fmt.Sprintf("%s %s/%s/%s %s/%s", i.Verb, i.APIGroup, i.Resource, i.Subresource, i.Namespace, i.Name))
		}
		return out
	}
	cases := []struct {
		name       string
		im         Impersonation
		wantChecks []string
		wantUser   *request.User
	}{
		{"user", Impersonation{User: "bob"}, []string{"impersonate /users/ /bob"},
			&request.User{Name: "bob", Groups: []string{"system:authenticated"}}},
		{"groups are the whole list plus authenticated", Impersonation{User: "bob", Groups: []string{"devs"}},
			[]string{"impersonate /users/ /bob", "impersonate /groups/ /devs"},
			&request.User{Name: "bob", Groups: []string{"devs", "system:authenticated"}}},
		{"named authenticated is not repeated", Impersonation{User: "bob", Groups: []string{"system:authenticated"}}, nil,
			&request.User{Name: "bob", Groups: []string{"system:authenticated"}}},
		{"anonymous is unauthenticated", Impersonation{User: "system:anonymous"}, []string{"impersonate /users/ /system:anonymous"},
			&request.User{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}},
		{"service account", Impersonation{User: "system:serviceaccount:team:builder"},
			[]string{"impersonate /serviceaccounts/ team/builder"},
			&request.User{Name: "system:serviceaccount:team:builder", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"}}},
		{"uid and extras, extras by key", Impersonation{User: "bob", UID: "u-1", Extra: map[string][]string{"z": {"1"}, "a": {"2", "3"}}},
			[]string{"impersonate /users/ /bob", "impersonate authentication.k8s.io/userextras/a /2", "impersonate authentication.k8s.io/userextras/a /3",
				"impersonate authentication.k8s.io/userextras/z /1", "impersonate authentication.k8s.io/uids/ /u-1"},
			&request.User{Name: "bob", UID: "u-1", Groups: []string{"system:authenticated"}, Extra: map[string][]string{"z": {"1"}, "a": {"2", "3"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := checkString(c.im.Checks()); c.wantChecks != nil && !reflect.DeepEqual(got, c.wantChecks) {
				t.Errorf("checks = %q\nwant     %q", got, c.wantChecks)
			}
			if got := c.im.Identity(); !reflect.DeepEqual(got, c.wantUser) {
				t.Errorf("identity = %+v, want %+v", got, c.wantUser)
			}
		})
	}
}

// TestImpersonateStopsAtFirstRefusal: nothing is granted once one part is refused.
func TestImpersonateStopsAtFirstRefusal(t *testing.T) {
	var asked []string
	refuse := errors.New("no")
	authorize := func(_ context.Context, i *request.Info) error {
		asked = append(asked, i.Resource+"/"+i.Name)
		if i.Resource == "groups" {
			return refuse
		}
		return nil
	}
	u, err := Impersonate(context.Background(), &Impersonation{User: "bob", Groups: []string{"devs", "ops"}}, authorize)
	if u != nil || err != refuse || strings.Join(asked, ",") != "users/bob,groups/devs" {
		t.Errorf("got %v, %v after asking %v", u, err, asked)
	}
}
