// Package keyword holds WeChat's rules for the values of subscription-message
// keywords (the "data" of subscribe/send): which type a key such as thing1
// has, how long its value may be and what it may contain. The send validator
// and the WeChat simulator both use it, so that they agree.
//
// WeChat documents the rules loosely; where it is silent this package decides:
//
//   - Lengths count Unicode code points (runes): a Chinese character, a letter
//     and an emoji each count 1. WeChat does not say how it counts.
//   - Values must be valid UTF-8 and are taken as given, without trimming:
//     leading or trailing spaces make a date, time, number or similar value
//     invalid.
//   - A symbol is a Unicode punctuation or symbol character (categories P and
//     S), e.g. ! % ~ ¥ · ， — but not a space, letter, digit or control
//     character. Chinese means a Han character.
//
// Per type:
//
//   - thing: up to 20 characters of anything but control characters and line
//     or paragraph separators.
//   - number: up to 32 ASCII digits with at most one decimal point between
//     digits; no sign, as WeChat allows only digits and a decimal point.
//   - letter: up to 32 of A–Z and a–z.
//   - symbol: up to 5 symbols.
//   - character_string: up to 32 ASCII letters, digits and symbols; no
//     Chinese, no spaces.
//   - time: H:MM or H:MM:SS in 24-hour form (the hour may have one or two
//     digits), optionally after a date that has a day and a space
//     ("2019-10-01 15:01", "2019年10月1日 15:01"; after 日 the space may be
//     left out), or a range of two such points joined by "~" (spaces around
//     it allowed).
//   - date: y年m月d日, y年m月, m月d日, or numbers joined by one kind of "-", "/"
//     or "." (2018-01-01, 2018-01, 01-01), optionally followed by a space and
//     a 24-hour time, or a "~" range. Years have 4 digits, months 1–12, days
//     1–31 (the day is not checked against the month's length).
//   - amount: one currency symbol (any Unicode currency sign: ¥ ￥ $ € £ …),
//     1 to 10 digits, optionally a point and decimals (WeChat names no number
//     of decimals), optionally 元 at the end. The symbol is required: WeChat
//     refuses a bare "100元". No sign, no thousands separators.
//   - phone_number: up to 17 digits, symbols (+ - ( ) * # …) and spaces, with
//     at least one digit: masked numbers (138****5678) and extensions (#) pass.
//   - car_number: up to 8 characters, ASCII letters and digits, where the first
//     and the last may be Chinese instead.
//   - name: letters of any script (with their accents), Chinese, spaces and
//     symbols, but no digits; at most 10 characters when it contains Chinese,
//     else at most 20.
//   - phrase: 1 to 5 Chinese characters.
//   - enum (keys enum_string<n>): exactly one of the template's enum values;
//     when the template lists none, any value of at most 20 characters
//     without control characters.
//   - short_thing: found in live templates but not in WeChat's table of
//     rules, so unchecked: any value that is not empty.
//
// An empty value is always rejected. A data key the template does not have
// is not a problem (WeChat ignores it); Extra names such keys so that callers
// can drop them.
package keyword
