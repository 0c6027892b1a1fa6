package inventory

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// maxLineLen bounds one line of a package database. dpkg and apk lines are
// short in practice; a longer line is reported as a problem and skipped
// rather than read into memory whole.
const maxLineLen = 1 << 20

// lineReader reads lines with their 1-based numbers. Unlike bufio.Scanner,
// which stops for good at the first over-long line, it skips the rest of
// such a line and carries on, so one bad line costs one problem, not the
// whole file.
type lineReader struct {
	r    *bufio.Reader
	n    int // number of the line last returned
	line []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its line ending. When the line is
// longer than maxLineLen, it returns the first maxLineLen bytes and
// tooLong. At the end of the input it returns io.EOF.
func (lr *lineReader) next() (line string, tooLong bool, err error) {
	lr.line = lr.line[:0]
	read := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(chunk) > 0 {
			read = true
		}
		if !tooLong {
			room := maxLineLen - len(lr.line)
			if len(chunk) > room {
				// The newline itself does not count against the limit.
				if !(len(chunk) == room+1 && chunk[len(chunk)-1] == '\n') {
					tooLong = true
				}
				lr.line = append(lr.line, chunk[:min(len(chunk), room)]...)
			} else {
				lr.line = append(lr.line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, fmt.Errorf("line %d: %w", lr.n+1, err)
		}
		if !read {
			return "", false, io.EOF
		}
		lr.n++
		b := lr.line
		if len(b) > 0 && b[len(b)-1] == '\n' {
			b = b[:len(b)-1]
		}
		if len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
		return string(b), tooLong, nil
	}
}
