package samtemplate

import "strings"

// Route is an HttpApi route of a function.
type Route struct {
	// Method is the HTTP method in upper case, or "ANY".
	Method string
	// Path is the route's path as API Gateway writes it, with {name}
	// parameters and an optional final {name+} greedy parameter, e.g.
	// "/v1/users/{openid}/subscriptions".
	Path string
	// IAM reports whether the route uses the AWS_IAM authorizer.
	IAM bool
}

// Key returns the route key API Gateway puts in the event's routeKey,
// e.g. "GET /v1/users/{openid}/subscriptions".
func (r Route) Key() string { return r.Method + " " + r.Path }

// MatchRoute finds the route that API Gateway would choose for a request and
// the values of its path parameters (nil when it has none). As in API
// Gateway, a literal segment wins over a {parameter}, which wins over a
// greedy {parameter+}, and a route for the method wins over an ANY route.
// Paths are compared case-sensitively and segment by segment, so "/v1/x/"
// does not match "/v1/x"; a parameter never matches an empty segment.
func MatchRoute(routes []Route, method, path string) (Route, map[string]string, bool) {
	method = strings.ToUpper(method)
	segs, ok := segments(path)
	if !ok {
		return Route{}, nil, false
	}
	var (
		best      Route
		bestScore []int
		found     bool
	)
	for _, r := range routes {
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		score, ok := matchPath(r.Path, segs)
		if !ok {
			continue
		}
		if r.Method == method {
			score = append(score, 1)
		} else {
			score = append(score, 0)
		}
		if !found || better(score, bestScore) {
			best, bestScore, found = r, score, true
		}
	}
	if !found {
		return Route{}, nil, false
	}
	return best, params(best.Path, segs), true
}

func segments(path string) ([]string, bool) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return nil, false
	}
	return strings.Split(rest, "/"), true
}

// Segment kinds, in order of precedence.
const (
	greedySeg = iota
	paramSeg
	literalSeg
)

func kind(seg string) (name string, k int) {
	if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && len(seg) > 2 {
		name = seg[1 : len(seg)-1]
		if n, ok := strings.CutSuffix(name, "+"); ok {
			return n, greedySeg
		}
		return name, paramSeg
	}
	return seg, literalSeg
}

// matchPath reports whether the request segments match a route path, with a
// score that ranks the match: the kind of each route segment, in order.
func matchPath(routePath string, segs []string) ([]int, bool) {
	rsegs, ok := segments(routePath)
	if !ok {
		return nil, false
	}
	score := make([]int, 0, len(rsegs)+1)
	for i, rs := range rsegs {
		name, k := kind(rs)
		if k == greedySeg {
			// A greedy parameter takes the rest, at least one non-empty segment.
			if i != len(rsegs)-1 || i >= len(segs) || strings.Join(segs[i:], "") == "" {
				return nil, false
			}
			return append(score, k), true
		}
		if i >= len(segs) {
			return nil, false
		}
		switch k {
		case literalSeg:
			if segs[i] != name {
				return nil, false
			}
		case paramSeg:
			if segs[i] == "" {
				return nil, false
			}
		}
		score = append(score, k)
	}
	if len(rsegs) != len(segs) {
		return nil, false
	}
	return score, true
}

func better(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return len(a) > len(b)
}

func params(routePath string, segs []string) map[string]string {
	rsegs, _ := segments(routePath)
	var out map[string]string
	for i, rs := range rsegs {
		name, k := kind(rs)
		if k == literalSeg {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		if k == greedySeg {
			out[name] = strings.Join(segs[i:], "/")
		} else {
			out[name] = segs[i]
		}
	}
	return out
}
