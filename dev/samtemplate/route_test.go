package samtemplate

import (
	"maps"
	"slices"
	"testing"
)

func TestRouteKey(t *testing.T) {
	r := Route{Method: "GET", Path: "/v1/users/{openid}/subscriptions", IAM: true}
	if got, want := r.Key(), "GET /v1/users/{openid}/subscriptions"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
}

func TestMatchRoute(t *testing.T) {
	var (
		subsGet   = Route{Method: "GET", Path: "/v1/subscriptions"}
		subsPost  = Route{Method: "POST", Path: "/v1/subscriptions"}
		userSubs  = Route{Method: "GET", Path: "/v1/users/{openid}/subscriptions", IAM: true}
		msgByID   = Route{Method: "GET", Path: "/v1/messages/{id}", IAM: true}
		msgLatest = Route{Method: "GET", Path: "/v1/messages/latest", IAM: true}
		thingAny  = Route{Method: "ANY", Path: "/v1/things/{id}"}
		thingPost = Route{Method: "POST", Path: "/v1/things/{id}"}
		static    = Route{Method: "GET", Path: "/static/{path+}"}
		staticApp = Route{Method: "GET", Path: "/static/app/{file}"}
	)
	routes := []Route{subsGet, subsPost, userSubs, msgByID, msgLatest, thingAny, thingPost, static, staticApp}

	type want struct {
		route  Route
		params map[string]string
	}
	cases := []struct {
		method, path string
		want         *want
	}{
		{"GET", "/v1/subscriptions", &want{subsGet, nil}},
		{"get", "/v1/subscriptions", &want{subsGet, nil}},
		{"POST", "/v1/subscriptions", &want{subsPost, nil}},
		{"DELETE", "/v1/subscriptions", nil},
		{"GET", "/v1/subscriptions/", nil},
		{"GET", "/V1/subscriptions", nil},
		{"GET", "v1/subscriptions", nil},
		{"GET", "", nil},
		{"GET", "/v1/users/oUpF8uMuAJO_M2pxb1Q9zNjWeS6o/subscriptions", &want{userSubs, map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}},
		{"GET", "/v1/users//subscriptions", nil},
		{"GET", "/v1/users/a/b/subscriptions", nil},
		{"GET", "/v1/messages/latest", &want{msgLatest, nil}},
		{"GET", "/v1/messages/m7k2xq4vbn3hdw5pzr6tcy2ajf", &want{msgByID, map[string]string{"id": "m7k2xq4vbn3hdw5pzr6tcy2ajf"}}},
		{"GET", "/v1/messages", nil},
		{"POST", "/v1/things/7", &want{thingPost, map[string]string{"id": "7"}}},
		{"DELETE", "/v1/things/7", &want{thingAny, map[string]string{"id": "7"}}},
		{"GET", "/static/css/site.css", &want{static, map[string]string{"path": "css/site.css"}}},
		{"GET", "/static/app/main.js", &want{staticApp, map[string]string{"file": "main.js"}}},
		{"GET", "/static/app/js/main.js", &want{static, map[string]string{"path": "app/js/main.js"}}},
		{"GET", "/static/", nil},
		{"GET", "/static", nil},
	}
	// The answer must not depend on the order of the routes.
	for _, order := range [][]Route{routes, reversed(routes)} {
		for _, c := range cases {
			r, params, ok := MatchRoute(order, c.method, c.path)
			switch {
			case c.want == nil && ok:
				t.Errorf("%s %s matched %s, want no match", c.method, c.path, r.Key())
			case c.want != nil && !ok:
				t.Errorf("%s %s matched nothing, want %s", c.method, c.path, c.want.route.Key())
			case c.want != nil && (r != c.want.route || !maps.Equal(params, c.want.params)):
				t.Errorf("%s %s = %s %v, want %s %v", c.method, c.path, r.Key(), params, c.want.route.Key(), c.want.params)
			}
		}
	}
}

func reversed(rs []Route) []Route {
	out := slices.Clone(rs)
	slices.Reverse(out)
	return out
}
