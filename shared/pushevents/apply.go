package pushevents

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxsub/wxsub/shared/ledger"
	"github.com/wxsub/wxsub/shared/store"
	"github.com/wxsub/wxsub/shared/wxpush"
)

// applyItem applies one item of a subscription event to the ledger.
func (h *Handler) applyItem(ctx context.Context, ev wxpush.Event, it wxpush.Item) error {
	k := store.RowKey{AppID: h.AppID, OpenID: ev.FromUserName, TemplateID: it.TemplateID}
	kind, err := h.Catalog.Kind(ctx, it.TemplateID)
	if err != nil {
		return err
	}
	tap, _ := ledger.ParseTap(it.Status) // acceptWithAudio and the like are accepts
	switch {
	case ev.Event == wxpush.EventPopup && tap == ledger.TapAccept:
		// The mini-program may report the same tap: they count once.
		var paired bool
		_, paired, err = h.Store.ApplyAccept(ctx, k, kind, ledger.FromPush)
		if err == nil && kind == ledger.OneTime && !paired {
			h.countGrant(ctx)
		}
	case ev.Event == wxpush.EventPopup && tap == ledger.TapReject:
		_, err = h.Store.ApplyTap(ctx, k, kind, ledger.OnTap(kind, ledger.TapReject))
	case ev.Event == wxpush.EventChange && tap == ledger.TapReject:
		_, err = h.Store.ApplyTap(ctx, k, kind, ledger.OnTap(kind, ledger.TapSwitchReject))
	case ev.Event == wxpush.EventChange && tap == ledger.TapAccept:
		// WeChat documents only reject here; an accept (the template
		// switched back on) restores the status and grants no credit.
		_, err = h.Store.ApplyTap(ctx, k, kind, ledger.OnTap(kind, ledger.TapSwitchAccept))
	case ev.Event == wxpush.EventSent:
		err = h.settle(ctx, ev, it, kind)
	default:
		// WeChat documents only accept and reject for popups, reject for changes.
		h.Logger.InfoContext(ctx, "push item ignored: status not used by wxsub",
			"event", ev.Event, "template_id", it.TemplateID, "status", it.Status)
	}
	return err
}

// settle applies a sent event to the message it reports on: found by
// WeChat's msgid, or, when wxsub never learnt the msgid (the send's answer
// was lost, or came without one), the user's oldest unsettled message for
// the template (see unsettledMessage). A send that is
// still in flight has not settled yet, so while the row counts one, the
// lookup is retried for up to SettleWait; and a message settled moments ago
// may not be in gsi1 yet. In both cases the event fails, so that WeChat
// delivers it again later rather than it being lost.
func (h *Handler) settle(ctx context.Context, ev wxpush.Event, it wxpush.Item, kind ledger.Kind) error {
	k := store.RowKey{AppID: h.AppID, OpenID: ev.FromUserName, TemplateID: it.TemplateID}
	wait := h.SettleWait
	if wait <= 0 {
		wait = DefaultSettleWait
	}
	deadline := time.Now().Add(wait)
	var m store.Message
	found, inFlight := false, false
	var rowChanged time.Time // when the row last changed
	for pause := 20 * time.Millisecond; ; pause *= 2 {
		// The row first, the pointer second: a settlement writes the pointer
		// and leaves flight in one transaction, so a row seen with nothing
		// in flight guarantees that the pointer read after it is current.
		row, err := h.Store.Row(ctx, k)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		inFlight = err == nil && row.Inflight > 0
		rowChanged = row.UpdatedAt
		if it.MsgID != "" {
			m, err = h.Store.MessageByWeChatID(ctx, h.AppID, it.MsgID)
			if err == nil {
				found = true
				break
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if !inFlight || time.Now().Add(pause).After(deadline) {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if !found && it.MsgID != "" && inFlight {
		// Most likely the event of the send still in flight, which will
		// record this msgid when it settles: matching it to an older
		// unsettled message instead would mark the wrong one delivered.
		return fmt.Errorf("sent event for template %s arrived before its send settled", it.TemplateID)
	}
	if !found {
		var err error
		var pendingSeen bool
		if m, found, pendingSeen, err = h.unsettledMessage(ctx, ev, it); err != nil {
			return err
		}
		inFlight = inFlight || pendingSeen
	}
	if !found && inFlight {
		return fmt.Errorf("sent event for template %s arrived before its send settled", it.TemplateID)
	}
	horizon := h.IndexHorizon
	if horizon <= 0 {
		horizon = DefaultIndexHorizon
	}
	if !found && time.Since(rowChanged) < horizon {
		return fmt.Errorf("sent event for template %s: a send settled %s ago may not be indexed yet",
			it.TemplateID, time.Since(rowChanged).Round(time.Millisecond))
	}
	if !found {
		h.Logger.InfoContext(ctx, "sent event for a message wxsub did not send, or no longer keeps",
			"template_id", it.TemplateID, "wechat_msgid", it.MsgID, "errcode", it.ErrorCode)
		return nil
	}
	if m.OpenID != ev.FromUserName || m.TemplateID != it.TemplateID {
		h.Logger.WarnContext(ctx, "sent event ignored: its msgid names a message of another user or template",
			"template_id", it.TemplateID, "wechat_msgid", it.MsgID, "message_id", m.ID)
		return nil
	}
	d := ledger.OnSentEvent(it.ErrorCode, it.ErrorStatus)
	changed, err := h.Store.RecordDelivery(ctx, m, store.DeliveryReport{
		Delivery: d, Kind: kind, WeChatMsgID: it.MsgID, ErrCode: it.ErrorCode, ErrMsg: it.ErrorStatus,
	})
	if err != nil {
		return err
	}
	h.Logger.InfoContext(ctx, "sent event recorded", "message_id", m.ID, "was", string(m.Status),
		"status", string(d.Status), "changed", changed, "zero_balance", d.ZeroBalance && changed)
	return nil
}

// unsettledMessage returns the user's oldest message for the template that
// waits for a sent event wxsub cannot match by msgid: one whose send got no
// answer (unknown), or an answer without a msgid (sent, no msgid). WeChat's
// current send documentation lists only errcode and errmsg
// (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html);
// answers have carried a msgid since at least 2021 (silenceper/wechat issue
// #758, royalrick/weapp pull request #114), but wxsub cannot count on it.
// Only messages created within MatchWindow before the event (and at most a
// minute after it, for clocks that disagree) are candidates: a sent event
// follows its send within seconds, so an older message's own event was lost
// and this one is not for it. The user's messages are listed from gsi1,
// which DynamoDB updates asynchronously (a status there may be stale), so
// every candidate is read again from the table; pending is true when one of
// them is still pending (its send has not settled).
func (h *Handler) unsettledMessage(ctx context.Context, ev wxpush.Event, it wxpush.Item) (m store.Message, found, pending bool, err error) {
	msgs, err := h.Store.UserMessages(ctx, h.AppID, ev.FromUserName)
	if err != nil {
		return store.Message{}, false, false, err
	}
	window := h.MatchWindow
	if window <= 0 {
		window = DefaultMatchWindow
	}
	created := time.Unix(ev.CreateTime, 0)
	earliest, latest := created.Add(-window), created.Add(time.Minute)
	for _, c := range msgs {
		if c.TemplateID != it.TemplateID || c.CreatedAt.After(latest) || c.CreatedAt.Before(earliest) ||
			(c.Status != ledger.Unknown && c.Status != ledger.Pending && c.Status != ledger.Sent) {
			continue
		}
		now, err := h.Store.Message(ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.Message{}, false, false, err
		}
		switch {
		case now.Status == ledger.Unknown, now.Status == ledger.Sent && now.WeChatMsgID == "":
			return now, true, pending, nil
		case now.Status == ledger.Pending:
			pending = true
		}
	}
	return store.Message{}, false, pending, nil
}
