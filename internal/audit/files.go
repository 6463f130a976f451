package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxLine bounds one log line when reading.
const maxLine = 1 << 20

// LogFiles returns the log files of dir in chain order (by name, which
// orders them by creation time).
func LogFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, FilePrefix) && strings.HasSuffix(n, FileSuffix) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.Sort(out)
	return out, nil
}

// ExpandPaths turns command-line arguments into log files in order: a
// directory stands for its log files; files are kept in the order given.
func ExpandPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		fs, err := LogFiles(a)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	if len(out) == 0 {
		return nil, errors.New("audit: no log files given")
	}
	return out, nil
}

// eachLine calls fn with every newline-terminated line of path (without
// the newline) and its 1-based number. partial is any unterminated tail.
func eachLine(path string, fn func(line []byte, n int) error) (end int64, partial []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(buf) < maxLine {
				line, err = r.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, bufio.ErrBufferFull) {
				return end, nil, fmt.Errorf("%s:%d: line longer than %d bytes", path, n+1, maxLine)
			}
			return end, nil, err
		}
		if len(line) == 0 || line[len(line)-1] != '\n' {
			return end, append([]byte(nil), line...), nil
		}
		n++
		end += int64(len(line))
		if ferr := fn(line[:len(line)-1], n); ferr != nil {
			return end, nil, ferr
		}
		if err != nil {
			return end, nil, nil
		}
	}
}

// resumeState is where a reopened log continues.
type resumeState struct {
	seq        uint64
	chain      [chainSize]byte
	since      []byte // lines since the last checkpoint
	sinceCount int
	lastName   string
}

// resume reads the newest log files of dir to continue their chain: the
// last record's seq and chain, and the lines since the last checkpoint. A
// partial last line (a crash during a write that was never acknowledged)
// is cut off.
func resume(dir string) (resumeState, error) {
	var st resumeState
	files, err := LogFiles(dir)
	if err != nil {
		return st, fmt.Errorf("audit: %w", err)
	}
	if len(files) == 0 {
		return st, nil
	}
	st.lastName = filepath.Base(files[len(files)-1])
	// Start from the newest file that holds a checkpoint.
	start := 0
	for i := len(files) - 1; i >= 0; i-- {
		b, err := os.ReadFile(files[i])
		if err != nil {
			return st, fmt.Errorf("audit: %w", err)
		}
		if bytes.Contains(b, []byte(`"category":"`+CategoryCheckpoint+`"`)) {
			start = i
			break
		}
	}
	for _, path := range files[start:] {
		var last []byte
		end, partial, err := eachLine(path, func(line []byte, n int) error {
			var e struct {
				Seq      uint64 `json:"seq"`
				Category string `json:"category"`
			}
			if err := json.Unmarshal(line, &e); err != nil {
				return fmt.Errorf("audit: %s:%d: unreadable record: %w", path, n, err)
			}
			if e.Category == CategoryCheckpoint {
				st.since, st.sinceCount = st.since[:0], 0
			} else {
				st.since = append(append(st.since, line...), '\n')
				st.sinceCount++
			}
			st.seq = e.Seq
			last = append(last[:0], line...)
			return nil
		})
		if err != nil {
			return st, err
		}
		if len(partial) > 0 {
			if err := os.Truncate(path, end); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return st, fmt.Errorf("audit: dropping a partial record of %s: %w", path, err)
			}
		}
		if last != nil {
			_, v, ok := cutField(last, chainField)
			if !ok {
				return st, fmt.Errorf("audit: %s: last record has no chain", path)
			}
			if st.chain, err = parseChain(v); err != nil {
				return st, fmt.Errorf("audit: %s: last record: %w", path, err)
			}
		}
	}
	return st, nil
}
