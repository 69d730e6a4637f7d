// The scenario harness of the Go runners. Each runner is a GOPATH-mode main package of its own, so this file
// is linked into sarama_runner/ and kafkago_runner/. Same contract as compat/clients/_harness.py.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

var scenarios = []string{
	"metadata", "create_topic", "produce_acks_all", "consume_group", "commit_resume", "group_rebalance",
	"list_groups", "describe_groups", "list_offsets", "idempotent_producer", "transactions",
	"compression_gzip", "compression_snappy", "compression_lz4", "compression_zstd", "delete_topic",
}

var longLimits = map[string]float64{"group_rebalance": 120, "commit_resume": 90, "transactions": 90}

const partitions = 3

var keys = []string{"key-0", "key-1", "key-2", "key-3", "key-4", "key-5", "key-6", "key-7"}

const perKey = 25

// notApplicable: the client cannot express the scenario. failure: it ran and saw what Kafka would not do.
type notApplicable struct{ why string }

func (e notApplicable) Error() string { return e.why }

type failure struct{ msg string }

func (e failure) Error() string { return e.msg }

func failf(format string, args ...interface{}) error { return failure{fmt.Sprintf(format, args...)} }

func na(why string) func(string) error {
	return func(string) error { return notApplicable{why} }
}

func topicName(client, scenario string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return strings.Replace(fmt.Sprintf("compat-%s-%s-%s", client, scenario, hex.EncodeToString(b)), "_", "-", -1)
}

// addresses: the bootstrap's addresses, one for a single broker, every broker's for a cluster (the metadata
// scenario expects that many brokers, each advertised at one of them).
func addresses(bootstrap string) []string {
	var out []string
	for _, a := range strings.Split(bootstrap, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// replicationFactor: topics the scenarios create are replicated on every broker of the cluster (up to 3).
func replicationFactor(bootstrap string) int {
	if n := len(addresses(bootstrap)); n < 3 {
		return n
	}
	return 3
}

func groupName(client, scenario string) string { return topicName(client, scenario) + "-group" }

// messages: (key, value) pairs interleaved across keys, value "<key>:<seq>".
func messages() [][2]string {
	var out [][2]string
	for seq := 0; seq < perKey; seq++ {
		for _, k := range keys {
			out = append(out, [2]string{k, fmt.Sprintf("%s:%d", k, seq)})
		}
	}
	return out
}

type row struct {
	k, v string
	p    int32
}

func waitFor(cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

// verifyConsumed checks count, values, per-key order and one partition per key (the producer's, when known).
func verifyConsumed(consumed []row, producedPartition map[string]int32, expected [][2]string) error {
	if len(consumed) != len(expected) {
		return failf("consumed %d messages, expected %d", len(consumed), len(expected))
	}
	want := map[string]int{}
	for _, kv := range expected {
		want[kv[1]]++
	}
	last := map[string]int{}
	part := map[string]int32{}
	for _, r := range consumed {
		if want[r.v] == 0 {
			return failf("unexpected or duplicate value %q", r.v)
		}
		want[r.v]--
		if !strings.HasPrefix(r.v, r.k+":") {
			return failf("value %q arrived with key %q", r.v, r.k)
		}
		seq, _ := strconv.Atoi(r.v[strings.LastIndex(r.v, ":")+1:])
		if prev, ok := last[r.k]; ok && seq <= prev {
			return failf("key %s out of order: %d after %d", r.k, seq, prev)
		}
		last[r.k] = seq
		if p, ok := part[r.k]; ok && p != r.p {
			return failf("key %s found in partitions %d and %d", r.k, p, r.p)
		}
		part[r.k] = r.p
		if producedPartition != nil {
			if p, ok := producedPartition[r.k]; ok && p != r.p {
				return failf("key %s consumed from partition %d, delivered to %d", r.k, r.p, p)
			}
		}
	}
	return nil
}

func emit(obj map[string]interface{}) {
	b, _ := json.Marshal(obj)
	os.Stdout.Write(append(b, '\n'))
}

func run(client, version string, fns map[string]func(string) error) {
	bootstrap := flag.String("bootstrap", "", "HOST:PORT")
	which := flag.String("scenarios", "all", "comma-separated names, or all")
	timeout := flag.Float64("timeout", 60, "seconds per scenario")
	timeouts := flag.String("timeouts", "", "per-scenario limits, name=seconds,...")
	flag.Parse()
	if *bootstrap == "" {
		fmt.Fprintln(os.Stderr, "--bootstrap is required")
		os.Exit(2)
	}
	limits := map[string]float64{}
	for k, v := range longLimits {
		limits[k] = v
	}
	for _, item := range strings.Split(*timeouts, ",") {
		if kv := strings.SplitN(item, "=", 2); len(kv) == 2 {
			if f, err := strconv.ParseFloat(kv[1], 64); err == nil {
				limits[kv[0]] = f
			}
		}
	}
	wanted := scenarios
	if *which != "all" {
		wanted = strings.Split(*which, ",")
	}
	emit(map[string]interface{}{"client": client, "version": version})
	for _, name := range wanted {
		fn := fns[name]
		started := time.Now()
		if fn == nil {
			emit(map[string]interface{}{"scenario": name, "status": "n/a", "error": client + " has no runner code for this scenario", "seconds": 0})
			continue
		}
		limit, ok := limits[name]
		if !ok {
			limit = *timeout
		}
		done := make(chan error, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- fmt.Errorf("panic: %v", r)
				}
			}()
			done <- fn(*bootstrap)
		}()
		status, msg := "pass", interface{}(nil)
		select {
		case err := <-done:
			if err != nil {
				msg = err.Error()
				switch err.(type) {
				case notApplicable:
					status = "n/a"
				default:
					status = "fail"
				}
			}
		case <-time.After(time.Duration(limit * float64(time.Second))):
			status, msg = "fail", fmt.Sprintf("timeout after %.0f s", limit)
		}
		emit(map[string]interface{}{"scenario": name, "status": status, "error": msg,
			"seconds": float64(time.Since(started).Milliseconds()) / 1000})
	}
	os.Exit(0)
}
