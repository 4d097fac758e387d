package httpapi

// ValidOpenID reports whether s has the shape of a WeChat openid: 6 to 64
// characters of letters, digits, '-' and '_' (real ones are 28).
func ValidOpenID(s string) bool { return idShaped(s, 6, 64) }

// ValidTemplateID reports whether s has the shape of a template id (priTmplId):
// 1 to 64 characters of letters, digits, '-' and '_'.
func ValidTemplateID(s string) bool { return idShaped(s, 1, 64) }

// ValidSubject reports whether s may be the openid of a session: 1 to 64
// characters of letters, digits, '-' and '_', as jscode2session must
// answer before wxsub issues a session for it.
func ValidSubject(s string) bool { return idShaped(s, 1, 64) }

// ValidLoginCode reports whether s could be a wx.login code: WeChat's are 32
// letters and digits; this allows 1 to 128 characters of letters, digits,
// '-' and '_', so that only what is obviously not a code is refused
// without asking WeChat.
func ValidLoginCode(s string) bool { return idShaped(s, 1, 128) }

func idShaped(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
