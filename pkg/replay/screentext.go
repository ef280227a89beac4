package replay

import "time"

// ScreenText is the screen as it was at session time t (End: the final
// screen), as plain text (Screen.Text): what `replay --from t` draws on a
// terminal before it plays on, rebuilt the same way, without a terminal.
func ScreenText(sk Seekable, t time.Duration) (string, error) {
	scr, _, err := screenAt(&source{r: sk}, sk, t, 0, nil)
	if err != nil {
		return "", err
	}
	defer scr.Close()
	return scr.Text(), nil
}
