package ledger

import "strings"

// Delivery is WeChat's final word on one message, from a
// subscribe_msg_sent_event: the message moves from sent or unknown to
// delivered or failed, and its credit stays spent either way, since WeChat
// took the send.
type Delivery struct {
	// Status is Delivered or Failed.
	Status MessageStatus
	// ZeroBalance means WeChat says the user has no authorisation left for
	// the template: the row's balance goes to 0 as after a 43101.
	ZeroBalance bool
}

// OnSentEvent maps an item of a subscribe_msg_sent_event to a Delivery.
// ErrorCode 0 is a delivery. Any other code is a failure; it means "no
// authorisation left" when it is 43101 or when ErrorStatus says the user
// refused or blocked the message (WeChat documents only "success"; its
// Official Account pushes use "failed:user block", and 43101's errmsg is
// "user refuse to accept the msg").
func OnSentEvent(errorCode int, errorStatus string) Delivery {
	if errorCode == 0 {
		return Delivery{Status: Delivered}
	}
	s := strings.ToLower(errorStatus)
	return Delivery{
		Status:      Failed,
		ZeroBalance: errorCode == 43101 || strings.Contains(s, "refuse") || strings.Contains(s, "block"),
	}
}

// SettlesOnDelivery reports whether a message in status s still waits for
// WeChat's sent event; any other status is final and a sent event for it
// changes nothing.
func SettlesOnDelivery(s MessageStatus) bool {
	return s == Sent || s == Unknown
}
