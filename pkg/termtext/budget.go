package termtext

// A terminal byte stream is untrusted: a recording's output or keys may be
// made to cost as much as possible. The line models bound what they keep
// and what they do:
//
//   - A line holds at most MaxLine characters. Output that goes on past it
//     goes on as the next line, as a terminal wraps it; the cursor stops at
//     the end, as at a terminal's right margin; a typed line stops taking
//     characters.
//   - Work that grows with the line (padding up to where the cursor was
//     moved, inserting, deleting, erasing) is paid from a credit that every
//     byte written earns (perByte units, one per character touched), up to
//     maxCredit. What the credit does not cover is not done: the text may
//     differ from what a terminal showed, but only in output made to cost
//     more than any program writes. Time is thus linear in the bytes
//     written, and memory bounded, whatever they hold.
const (
	// MaxLine is the longest line kept, in characters.
	MaxLine = 64 << 10
	// perByte is the credit a byte of input earns.
	perByte = 64
	// maxCredit bounds the credit saved up, enough for bursts of edits on
	// long lines.
	maxCredit = 1 << 20
)

// budget is the credit; the zero value is full.
type budget struct {
	debt int   // maxCredit minus the credit left
	work int64 // units spent, for tests
}

// earn adds the credit for n bytes written.
func (b *budget) earn(n int) {
	if n >= maxCredit/perByte {
		b.debt = 0
		return
	}
	b.debt = max(0, b.debt-n*perByte)
}

// spend pays for n units of work, if the credit covers them.
func (b *budget) spend(n int) bool {
	if n <= 0 {
		return true
	}
	if n > maxCredit-b.debt {
		return false
	}
	b.debt += n
	b.work += int64(n)
	return true
}

// take pays for as much of n units as the credit covers, and returns how
// many.
func (b *budget) take(n int) int {
	n = max(0, min(n, maxCredit-b.debt))
	b.debt += n
	b.work += int64(n)
	return n
}
