package wechatsim_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/wxsub/wxsub/dev/wechatsim"
)

func TestPopupAnswersLikeRequestSubscribeMessage(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	openid, _ := e.login("")
	_, body := e.do("POST", "/__sim/popup", map[string]any{"openid": openid, "results": map[string]string{
		wechatsim.TmplOrderShipped: "accept", wechatsim.TmplAppointment: "reject",
		wechatsim.TmplParkingFee: "ban", wechatsim.TmplServiceReview: "filter",
	}})
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("popup answer %s: %v", body, err)
	}
	want := map[string]string{
		"errMsg":                    "requestSubscribeMessage:ok",
		wechatsim.TmplOrderShipped:  "accept",
		wechatsim.TmplAppointment:   "reject",
		wechatsim.TmplParkingFee:    "ban",
		wechatsim.TmplServiceReview: "filter",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("popup answer %v, want %v", got, want)
	}
	for id, credits := range map[string]int{
		wechatsim.TmplOrderShipped: 1, wechatsim.TmplAppointment: 0, wechatsim.TmplParkingFee: 0, wechatsim.TmplServiceReview: 0,
	} {
		if n := e.sim.Credits(openid, id); n != credits {
			t.Errorf("credits for %s: %d, want %d", id, n, credits)
		}
	}
	if st := e.sim.Status(openid, wechatsim.TmplServiceReview); st != "" {
		t.Errorf("a filtered template got status %q", st)
	}
}

func TestPopupFailuresChangeNothing(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	openid, _ := e.login("")
	fail := func(results map[string]string, code int, text string) {
		t.Helper()
		p := e.popup(openid, results)
		want := obj{"errMsg": "requestSubscribeMessage:fail " + text, "errCode": json.Number(jsonInt(code))}
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("popup %v: %v, want %v", results, p, want)
		}
	}
	fail(map[string]string{}, 10001, "TmplIds can't be empty")
	fail(map[string]string{wechatsim.TmplOrderShipped: "accept", "notATemplate": "accept"}, 20001,
		"No template data return, verify the template id exist")
	fail(map[string]string{wechatsim.TmplOrderShipped: "accept", wechatsim.TmplClinicVisit: "accept"}, 20002,
		"Templates type must be same")
	six := map[string]string{"a": "accept", "b": "accept", "c": "accept", "d": "accept", "e": "accept", wechatsim.TmplOrderShipped: "accept"}
	fail(six, 20003, "Templates count out of max bounds")
	if n := e.sim.Credits(openid, wechatsim.TmplOrderShipped); n != 0 {
		t.Fatalf("failed popups granted %d credits", n)
	}
	five := map[string]string{}
	for _, tm := range e.cfg.Templates {
		if tm.Type == wechatsim.OneTime {
			five[tm.ID] = "accept"
		}
	}
	if p := e.popup(openid, five); p.str("errMsg") != "requestSubscribeMessage:ok" {
		t.Fatalf("popup with every one-time template: %v", p)
	}
}

func TestPopupMisuseIsABadRequest(t *testing.T) {
	e := newEnv(t, wechatsim.Config{})
	for _, body := range []string{
		`{"results":{"` + wechatsim.TmplOrderShipped + `":"accept"}}`,
		`{"openid":"oX","results":{"` + wechatsim.TmplOrderShipped + `":"yes"}}`,
	} {
		if status, out := e.do("POST", "/__sim/popup", body); status != 400 {
			t.Errorf("popup %s: HTTP %d %s, want 400", body, status, out)
		}
	}
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
