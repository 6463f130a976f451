package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// WriterSink writes lines to an io.Writer, such as os.Stdout for container
// log collectors.
type WriterSink struct {
	// W receives the lines.
	W io.Writer
}

// WriteLines implements Sink.
func (s WriterSink) WriteLines(p []byte) error {
	_, err := s.W.Write(p)
	return err
}

// Close implements Sink; it does not close W.
func (WriterSink) Close() error { return nil }

// SyslogSink sends each line as one RFC 5424 message (facility authpriv,
// severity info, MSGID "audit", structured data "-") over a unix datagram
// socket, UDP or TCP (octet-counted framing, RFC 6587), reconnecting after
// a failure.
type SyslogSink struct {
	network, addr, tag, host string
	pid                      string
	now                      func() time.Time
	conn                     net.Conn
}

// NewSyslogSink returns a sink for network ("unixgram", "udp", "tcp"; ""
// means the local syslog socket, /dev/log) and address. tag is the
// APP-NAME ("keywarden" when empty). The connection is opened lazily.
func NewSyslogSink(network, addr, tag string) *SyslogSink {
	if network == "" {
		network, addr = "unixgram", "/dev/log"
	}
	if tag == "" {
		tag = "keywarden"
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "-"
	}
	return &SyslogSink{network: network, addr: addr, tag: tag, host: host, pid: strconv.Itoa(os.Getpid()), now: time.Now}
}

// priority is facility authpriv (10) × 8 + severity info (6).
const priority = 10*8 + 6

// WriteLines implements Sink.
func (s *SyslogSink) WriteLines(p []byte) error {
	var errs []error
	for len(p) > 0 {
		line, rest, _ := bytes.Cut(p, []byte("\n"))
		p = rest
		if len(line) == 0 {
			continue
		}
		msg := fmt.Appendf(nil, "<%d>1 %s %s %s %s audit - ", priority, s.now().UTC().Format(time.RFC3339Nano), s.host, s.tag, s.pid)
		msg = append(msg, line...)
		if err := s.send(msg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// send writes one message, reconnecting once.
func (s *SyslogSink) send(msg []byte) error {
	if s.network == "tcp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	for try := 0; try < 2; try++ {
		if s.conn == nil {
			c, err := net.DialTimeout(s.network, s.addr, 5*time.Second)
			if err != nil {
				return fmt.Errorf("audit: syslog %s %s: %w", s.network, s.addr, err)
			}
			s.conn = c
		}
		s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := s.conn.Write(msg); err == nil {
			return nil
		} else if try == 1 {
			return fmt.Errorf("audit: syslog: %w", err)
		}
		s.conn.Close()
		s.conn = nil
	}
	return nil
}

// Close implements Sink.
func (s *SyslogSink) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
