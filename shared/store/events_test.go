package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxsub/wxsub/dev/fakeclock"
	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
)

func accept(t *testing.T, s *store.Store, k store.RowKey, src ledger.Source) (ledger.Row, bool) {
	t.Helper()
	r, paired, err := s.ApplyAccept(context.Background(), k, ledger.OneTime, src)
	if err != nil {
		t.Fatal(err)
	}
	return r, paired
}

func TestOneTapReportedTwiceGrantsOnceInEitherOrder(t *testing.T) {
	s, tb := newStore(t)
	for i, first := range []ledger.Source{ledger.FromClient, ledger.FromPush} {
		k := store.RowKey{AppID: "wx1", OpenID: "oPair0000" + string(rune('a'+i)), TemplateID: "tplA"}
		// An earlier tap, so that the row exists and costs are steady.
		accept(t, s, k, first)
		accept(t, s, k, first.Other())

		before := requests(tb)
		r, paired := accept(t, s, k, first)
		firstCost := requests(tb) - before
		if paired || r.Credits != 2 || r.Granted != 2 {
			t.Fatalf("%s first: paired=%v %+v", first, paired, r)
		}
		before = requests(tb)
		r, paired = accept(t, s, k, first.Other())
		secondCost := requests(tb) - before
		if !paired || r.Credits != 2 || r.Granted != 2 || r.ClientPending.Count != 0 || r.PushPending.Count != 0 {
			t.Fatalf("%s second: paired=%v %+v", first.Other(), paired, r)
		}
		if tb.Server != nil && (firstCost != 1 || secondCost != 2) {
			t.Errorf("DynamoDB requests: the first report of a tap %d (want 1), its pair %d (want 2)", firstCost, secondCost)
		}
	}
}

func TestAcceptsOutsideThePairWindowAreTwoTaps(t *testing.T) {
	s, _ := newStore(t)
	c := fakeclock.New(time.Now())
	s = s.WithClock(c.Now)
	k := store.RowKey{AppID: "wx1", OpenID: "oWindow0001", TemplateID: "tplA"}
	accept(t, s, k, ledger.FromClient)
	c.Advance(ledger.PairWindow + time.Second)
	r, paired := accept(t, s, k, ledger.FromPush)
	if paired || r.Credits != 2 {
		t.Fatalf("a popup event 10 min 1 s after the report: paired=%v %+v", paired, r)
	}
	c.Advance(ledger.PairWindow)
	r, paired = accept(t, s, k, ledger.FromClient)
	if !paired || r.Credits != 2 {
		t.Fatalf("a report exactly 10 min after the popup event: paired=%v %+v", paired, r)
	}
}

func TestAcceptPairsOnRowsWrittenBeforePairing(t *testing.T) {
	s, tb := newStore(t)
	ctx := context.Background()
	k := store.RowKey{AppID: "wx1", OpenID: "oOldRow0001", TemplateID: "tplA"}
	// A row as older versions wrote it: no pending attributes.
	_, err := tb.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.Name), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "U#wx1#oOldRow0001"}, "sk": &types.AttributeValueMemberS{Value: "T#tplA"},
		"gsi1pk": &types.AttributeValueMemberS{Value: "T#wx1#tplA"}, "gsi1sk": &types.AttributeValueMemberS{Value: "oOldRow0001"},
		"appid": &types.AttributeValueMemberS{Value: "wx1"}, "openid": &types.AttributeValueMemberS{Value: "oOldRow0001"},
		"template_id": &types.AttributeValueMemberS{Value: "tplA"}, "kind": &types.AttributeValueMemberS{Value: "one_time"},
		"status": &types.AttributeValueMemberS{Value: "accept"}, "cost": &types.AttributeValueMemberN{Value: "1"},
		"credits": &types.AttributeValueMemberN{Value: "1"}, "granted": &types.AttributeValueMemberN{Value: "1"},
		"spent": &types.AttributeValueMemberN{Value: "0"}, "revoked": &types.AttributeValueMemberN{Value: "0"},
		"inflight": &types.AttributeValueMemberN{Value: "0"}, "updated_at": &types.AttributeValueMemberN{Value: "1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r, paired := accept(t, s, k, ledger.FromPush)
	if paired || r.Credits != 2 || r.PushPending.Count != 1 {
		t.Fatalf("push accept on an old row: paired=%v %+v", paired, r)
	}
	r, paired = accept(t, s, k, ledger.FromClient)
	if !paired || r.Credits != 2 || r.PushPending.Count != 0 {
		t.Fatalf("its report: paired=%v %+v", paired, r)
	}
}

func TestConcurrentReportsAndPushesOfTheSameTapsGrantEachOnce(t *testing.T) {
	s, _ := newStore(t)
	k := store.RowKey{AppID: "wx1", OpenID: "oRace000001", TemplateID: "tplA"}
	const taps = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*taps)
	for i := 0; i < taps; i++ {
		for _, src := range []ledger.Source{ledger.FromClient, ledger.FromPush} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.ApplyAccept(context.Background(), k, ledger.OneTime, src); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r, err := s.Row(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if r.Credits != taps || r.Granted != taps || r.ClientPending.Count != 0 || r.PushPending.Count != 0 || !r.Balanced() {
		t.Fatalf("%d taps each reported twice: %+v", taps, r)
	}
}

func TestLongTermAcceptIsATap(t *testing.T) {
	s, _ := newStore(t)
	k := store.RowKey{AppID: "wx1", OpenID: "oLong000001", TemplateID: "tplL"}
	for i := 0; i < 2; i++ {
		r, paired, err := s.ApplyAccept(context.Background(), k, ledger.LongTerm, ledger.FromPush)
		if err != nil || paired || r.Status != ledger.Accept || r.Credits != 0 {
			t.Fatalf("long-term accept: %+v %v %v", r, paired, err)
		}
	}
}

func TestClaimsRefuseRepeatsUntilTheyExpire(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := fakeclock.New(time.Now())
	s = s.WithClock(c.Now)
	if err := s.ClaimNonce(ctx, "wx1", "123456"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimNonce(ctx, "wx1", "123456"); !errors.Is(err, store.ErrClaimed) {
		t.Fatalf("second claim of a nonce: %v", err)
	}
	if err := s.ClaimNonce(ctx, "wx2", "123456"); err != nil {
		t.Fatalf("the same nonce for another app: %v", err)
	}
	c.Advance(store.NonceTTL + time.Second)
	if err := s.ClaimNonce(ctx, "wx1", "123456"); err != nil {
		t.Fatalf("a nonce after its expiry: %v", err)
	}

	if err := s.ClaimEvent(ctx, "wx1", "d1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimEvent(ctx, "wx1", "d1"); !errors.Is(err, store.ErrClaimed) {
		t.Fatalf("second claim of an event: %v", err)
	}
	if err := s.ReleaseEvent(ctx, "wx1", "d1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimEvent(ctx, "wx1", "d1"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := s.ReleaseEvent(ctx, "wx1", "never-claimed"); err != nil {
		t.Fatalf("releasing a missing claim: %v", err)
	}
	if err := s.ReleaseNonce(ctx, "wx1", "123456"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimNonce(ctx, "wx1", "123456"); err != nil {
		t.Fatalf("claim of a released nonce: %v", err)
	}
}

// sent reserves a credit of k and settles it as status with the given msgid.
func sent(t *testing.T, s *store.Store, k store.RowKey, id, msgid string, status ledger.MessageStatus) store.Message {
	t.Helper()
	ctx := context.Background()
	m := pending(k, ledger.OneTime)
	m.ID = id
	if err := s.Reserve(ctx, store.Reservation{Row: k, Message: m}); err != nil {
		t.Fatal(err)
	}
	m.Status, m.WeChatMsgID = status, msgid
	if err := s.Settle(ctx, store.Settlement{Row: k, Kind: ledger.OneTime, Effect: ledger.Spend, Message: m}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSentEventsFindAndSettleTheirMessage(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	k := store.RowKey{AppID: "wx1", OpenID: "oDeliver001", TemplateID: "tplA"}
	grant(t, s, k, 3)
	m := sent(t, s, k, "maaaaaaaaaaaaaaaaaaaaaaaaa", "3141592653589793", ledger.Sent)

	got, err := s.MessageByWeChatID(ctx, "wx1", "3141592653589793")
	if err != nil || got.ID != m.ID {
		t.Fatalf("MessageByWeChatID = %+v, %v", got, err)
	}
	if _, err := s.MessageByWeChatID(ctx, "wx2", "3141592653589793"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another app's msgid: %v", err)
	}
	ok := store.DeliveryReport{Delivery: ledger.OnSentEvent(0, "success"), Kind: ledger.OneTime}
	if changed, err := s.RecordDelivery(ctx, got, ok); err != nil || !changed {
		t.Fatalf("delivery: %v %v", changed, err)
	}
	if changed, err := s.RecordDelivery(ctx, got, ok); err != nil || changed {
		t.Fatalf("repeated delivery changed the message again: %v %v", changed, err)
	}
	if got, _ := s.Message(ctx, m.ID); got.Status != ledger.Delivered {
		t.Fatalf("status %s, want delivered", got.Status)
	}

	// A message whose answer was lost learns its msgid and fails for good.
	u := sent(t, s, k, "mbaaaaaaaaaaaaaaaaaaaaaaaa", "", ledger.Unknown)
	blocked := store.DeliveryReport{Delivery: ledger.OnSentEvent(43101, "failed:user block"), Kind: ledger.OneTime,
		WeChatMsgID: "2718281828459045", ErrCode: 43101, ErrMsg: "failed:user block"}
	if changed, err := s.RecordDelivery(ctx, u, blocked); err != nil || !changed {
		t.Fatalf("failure: %v %v", changed, err)
	}
	got, _ = s.Message(ctx, u.ID)
	if got.Status != ledger.Failed || !got.Accepted || got.ErrCode != 43101 || got.ErrMsg != "failed:user block" || got.WeChatMsgID != "2718281828459045" {
		t.Fatalf("failed message: %+v", got)
	}
	r, _ := s.Row(ctx, k)
	if r.Credits != 0 || r.Spent != 2 || r.Revoked != 1 || !r.Balanced() {
		t.Fatalf("row after a refused delivery: %+v", r)
	}
	if changed, err := s.RecordDelivery(ctx, got, blocked); err != nil || changed {
		t.Fatalf("a repeat zeroed again: %v %v", changed, err)
	}
}
