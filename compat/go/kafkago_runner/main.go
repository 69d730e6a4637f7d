// Compat scenarios with segmentio/kafka-go as Debian ships it (golang-github-segmentio-kafka-go-dev, 0.2.1), built
// in GOPATH mode by compat/run.py. This old release writes the legacy message format v1 with Produce v2 and reads
// with Fetch v1-v2. It has no public API to list or describe groups, no idempotent or transactional producer and
// no zstd codec: those scenarios are n/a. Same contract as the other runners.
package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

// libVersion is set at build time from the Debian package version (-ldflags -X main.libVersion=...).
var libVersion = "0.2.1"

const client = "kafka-go"

func dial(bootstrap string) (*kafka.Conn, error) {
	c, err := kafka.DialContext(ctxFor(10*time.Second), "tcp", addresses(bootstrap)[0])
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, nil
}

func ctxFor(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	time.AfterFunc(d, cancel)
	return ctx
}

func create(bootstrap, topic string, partitions int) error {
	c, err := dial(bootstrap)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: replicationFactor(bootstrap)})
}

// produce writes keyed messages with acks=all (RequiredAcks -1) and the Hash balancer.
func produce(bootstrap, topic string, items [][2]string, codec kafka.CompressionCodec) error {
	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers: addresses(bootstrap), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: -1,
		BatchTimeout: 10 * time.Millisecond, MaxAttempts: 3, CompressionCodec: codec,
	})
	defer w.Close()
	msgs := make([]kafka.Message, len(items))
	for i, kv := range items {
		msgs[i] = kafka.Message{Key: []byte(kv[0]), Value: []byte(kv[1])}
	}
	return w.WriteMessages(ctxFor(30*time.Second), msgs...)
}

// readPartition reads one partition from the first offset without a group until `count` rows or a quiet second.
func readPartitions(bootstrap, topic string, count int) ([]row, error) {
	var mu sync.Mutex
	var rows []row
	var wg sync.WaitGroup
	errs := make(chan error, partitions)
	for p := 0; p < partitions; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: addresses(bootstrap), Topic: topic, Partition: p,
				MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 300 * time.Millisecond})
			defer r.Close()
			r.SetOffset(kafka.FirstOffset)
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				n := len(rows)
				mu.Unlock()
				if n >= count {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				m, err := r.ReadMessage(ctx)
				cancel()
				if err == context.DeadlineExceeded {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("partition %d: %v", p, err)
					return
				}
				mu.Lock()
				rows = append(rows, row{string(m.Key), string(m.Value), int32(m.Partition)})
				mu.Unlock()
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return rows, err
	}
	return rows, nil
}

// groupReader reads through a consumer group; each ReadMessage commits synchronously (CommitInterval 0).
type groupReader struct {
	r      *kafka.Reader
	mu     sync.Mutex
	rows   []row
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func newGroupReader(bootstrap, group, topic string, limit int) *groupReader {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: addresses(bootstrap), GroupID: group, Topic: topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 300 * time.Millisecond, HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	g := &groupReader{r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for ctx.Err() == nil {
			if limit >= 0 && g.count() >= limit {
				return
			}
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					g.mu.Lock()
					g.err = err
					g.mu.Unlock()
					time.Sleep(200 * time.Millisecond)
				}
				continue
			}
			if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
				g.mu.Lock()
				g.err = fmt.Errorf("commit: %v", err)
				g.mu.Unlock()
				continue // not recorded: it will come again
			}
			g.mu.Lock()
			g.rows = append(g.rows, row{string(m.Key), string(m.Value), int32(m.Partition)})
			g.mu.Unlock()
		}
	}()
	return g
}

func (g *groupReader) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.rows)
}

func (g *groupReader) snapshot() []row {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]row(nil), g.rows...)
}

func (g *groupReader) lastErr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		return ""
	}
	return " (last error: " + g.err.Error() + ")"
}

func (g *groupReader) close() {
	g.cancel()
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
	}
	g.r.Close()
}

func keyParts(rows []row) map[string]int32 {
	out := map[string]int32{}
	for _, r := range rows {
		out[r.k] = r.p
	}
	return out
}

// ---------------------------------------------------------------------------------------------- scenarios

func sMetadata(bootstrap string) error {
	t := topicName(client, "metadata")
	c, err := dial(bootstrap)
	if err != nil {
		return err
	}
	defer c.Close()
	ps, err := c.ReadPartitions(t) // Metadata v1 for one topic: auto-creates it
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return failf("no partitions for an auto-created topic")
	}
	for _, p := range ps {
		addr, known := fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port), false
		for _, a := range addresses(bootstrap) {
			known = known || a == addr
		}
		if !known {
			return failf("partition %d leader advertised as %s, bootstrap %s", p.ID, addr, bootstrap)
		}
		if len(p.Replicas) != replicationFactor(bootstrap) {
			return failf("partition %d replicas %v (auto-created: default.replication.factor)", p.ID, p.Replicas)
		}
	}
	return nil
}

func sCreateTopic(bootstrap string) error {
	t := topicName(client, "create")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	c, err := dial(bootstrap)
	if err != nil {
		return err
	}
	defer c.Close()
	ps, err := c.ReadPartitions(t)
	if err != nil {
		return err
	}
	if len(ps) != partitions {
		return failf("%d partitions", len(ps))
	}
	for _, p := range ps {
		if len(p.Replicas) != replicationFactor(bootstrap) {
			return failf("partition %d replicas %v", p.ID, p.Replicas)
		}
	}
	// (kafka-go 0.2.1's CreateTopics hides TOPIC_ALREADY_EXISTS, so a second create cannot be checked here)
	return nil
}

func sProduceAcksAll(bootstrap string) error {
	t := topicName(client, "produce")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	if err := produce(bootstrap, t, messages(), nil); err != nil {
		return err
	}
	rows, err := readPartitions(bootstrap, t, len(messages()))
	if err != nil {
		return err
	}
	return verifyConsumed(rows, nil, messages())
}

func sConsumeGroup(bootstrap string) error {
	t := topicName(client, "consume")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	if err := produce(bootstrap, t, messages(), nil); err != nil {
		return err
	}
	direct, err := readPartitions(bootstrap, t, len(messages()))
	if err != nil {
		return err
	}
	g := newGroupReader(bootstrap, groupName(client, "consume"), t, -1)
	waitFor(func() bool { return g.count() >= len(messages()) }, 40*time.Second)
	time.Sleep(500 * time.Millisecond)
	g.close()
	if err := verifyConsumed(g.snapshot(), keyParts(direct), messages()); err != nil {
		return fmt.Errorf("%v%s", err, g.lastErr())
	}
	return nil
}

func sCommitResume(bootstrap string) error {
	t := topicName(client, "resume")
	grp := groupName(client, "resume")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	if err := produce(bootstrap, t, messages(), nil); err != nil {
		return err
	}
	total := len(messages())
	g1 := newGroupReader(bootstrap, grp, t, total/2)
	ok := waitFor(func() bool { return g1.count() >= total/2 }, 40*time.Second)
	g1.close()
	if !ok {
		return failf("first consumer got %d of %d%s", g1.count(), total/2, g1.lastErr())
	}
	g2 := newGroupReader(bootstrap, grp, t, -1)
	waitFor(func() bool { return g2.count() >= total-total/2 }, 40*time.Second)
	time.Sleep(1500 * time.Millisecond)
	g2.close()
	if err := verifyConsumed(append(g1.snapshot(), g2.snapshot()...), nil, messages()); err != nil {
		return fmt.Errorf("%v%s", err, g2.lastErr())
	}
	return nil
}

// kafka-go 0.2.1 does not expose a member's assignment: the split is seen in where messages come from.
func sGroupRebalance(bootstrap string) error {
	t := topicName(client, "rebalance")
	grp := groupName(client, "rebalance")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	var produced [][2]string
	round := 0
	produceRound := func() error {
		var items [][2]string
		for _, k := range keys {
			items = append(items, [2]string{k, fmt.Sprintf("%s:%d", k, round)})
		}
		round++
		produced = append(produced, items...)
		return produce(bootstrap, t, items, nil)
	}
	partsOf := func(rows []row) map[int32]bool {
		out := map[int32]bool{}
		for _, r := range rows {
			out[r.p] = true
		}
		return out
	}
	g1 := newGroupReader(bootstrap, grp, t, -1)
	defer g1.close()
	if err := produceRound(); err != nil {
		return err
	}
	if !waitFor(func() bool { return g1.count() >= len(produced) }, 30*time.Second) {
		return failf("the first member consumed %d of %d%s", g1.count(), len(produced), g1.lastErr())
	}
	g2 := newGroupReader(bootstrap, grp, t, -1)
	// produce a round a second until a round lands split between the two members
	var split bool
	var a, b map[int32]bool
	for i := 0; i < 30 && !split; i++ {
		n1, n2 := g1.count(), g2.count()
		if err := produceRound(); err != nil {
			g2.close()
			return err
		}
		waitFor(func() bool { return g1.count()+g2.count() >= len(produced) }, 3*time.Second)
		time.Sleep(300 * time.Millisecond)
		a, b = partsOf(g1.snapshot()[n1:]), partsOf(g2.snapshot()[n2:])
		split = len(a) > 0 && len(b) > 0 && len(a)+len(b) == partitions
		for p := range a {
			split = split && !b[p]
		}
	}
	if !split {
		g2.close()
		return failf("two members never split the partitions: last round %v / %v%s%s", setOf(a), setOf(b), g1.lastErr(), g2.lastErr())
	}
	g2.close()
	var took bool
	for i := 0; i < 30 && !took; i++ {
		n := g1.count()
		if err := produceRound(); err != nil {
			return err
		}
		waitFor(func() bool { return g1.count()-n >= len(keys) }, 3*time.Second)
		took = len(partsOf(g1.snapshot()[n:])) == partitions
	}
	if !took {
		return failf("after the second member left the first did not take over all partitions%s", g1.lastErr())
	}
	time.Sleep(500 * time.Millisecond)
	// At least once: kafka-go 0.2.1 ignores per-partition OffsetCommit errors and still hands out what it fetched
	// before a rebalance, so a handover may repeat messages; none may be lost.
	all := append(g1.snapshot(), g2.snapshot()...)
	seen := map[string]int{}
	for _, r := range all {
		seen[r.v]++
	}
	for _, kv := range produced {
		if seen[kv[1]] == 0 {
			return failf("message %s was never consumed by either member", kv[1])
		}
	}
	return nil
}

func setOf(m map[int32]bool) []int {
	var out []int
	for p := range m {
		out = append(out, int(p))
	}
	sort.Ints(out)
	return out
}

func sListOffsets(bootstrap string) error {
	t := topicName(client, "offsets")
	if err := create(bootstrap, t, 1); err != nil {
		return err
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	c, err := kafka.DialLeader(ctxFor(10*time.Second), "tcp", addresses(bootstrap)[0], t, 0)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msgs := make([]kafka.Message, 10)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("k"), Value: []byte(fmt.Sprint(i)), Time: base.Add(time.Duration(i) * time.Second)}
	}
	if _, err := c.WriteMessages(msgs...); err != nil {
		return err
	}
	first, err := c.ReadFirstOffset()
	if err != nil {
		return fmt.Errorf("earliest: %v", err)
	}
	last, err := c.ReadLastOffset()
	if err != nil {
		return fmt.Errorf("latest: %v", err)
	}
	byTs, err := c.ReadOffset(base.Add(3500 * time.Millisecond))
	if err != nil {
		return fmt.Errorf("by timestamp: %v", err)
	}
	if first != 0 || last != 10 || byTs != 4 {
		return failf("earliest %d, latest %d, by timestamp %d; expected 0, 10, 4", first, last, byTs)
	}
	return nil
}

func compression(codec kafka.CompressionCodec, name string) func(string) error {
	return func(bootstrap string) error {
		t := topicName(client, name)
		if err := create(bootstrap, t, partitions); err != nil {
			return err
		}
		if err := produce(bootstrap, t, messages(), codec); err != nil {
			return err
		}
		rows, err := readPartitions(bootstrap, t, len(messages()))
		if err != nil {
			return err
		}
		return verifyConsumed(rows, nil, messages())
	}
}

func sDeleteTopic(bootstrap string) error {
	t := topicName(client, "delete")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	if err := produce(bootstrap, t, messages()[:8], nil); err != nil {
		return err
	}
	c, err := dial(bootstrap)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.DeleteTopics(t); err != nil {
		return err
	}
	gone := func() bool {
		ps, err := c.ReadPartitions() // all topics: does not auto-create
		if err != nil {
			return false
		}
		for _, p := range ps {
			if p.Topic == t {
				return false
			}
		}
		return true
	}
	if !waitFor(gone, 10*time.Second) {
		return failf("topic still listed 10 s after deletion")
	}
	if err := c.DeleteTopics(t); err != kafka.UnknownTopicOrPartition {
		return failf("deleting a deleted topic answered %v", err)
	}
	return nil
}

func main() {
	run(client, libVersion, map[string]func(string) error{
		"metadata":            sMetadata,
		"create_topic":        sCreateTopic,
		"produce_acks_all":    sProduceAcksAll,
		"consume_group":       sConsumeGroup,
		"commit_resume":       sCommitResume,
		"group_rebalance":     sGroupRebalance,
		"list_groups":         na("kafka-go 0.2.1 has no public API to list groups"),
		"describe_groups":     na("kafka-go 0.2.1 has no public API to describe groups"),
		"list_offsets":        sListOffsets,
		"idempotent_producer": na("kafka-go 0.2.1 has no idempotent producer"),
		"transactions":        na("kafka-go 0.2.1 has no transactional producer"),
		"compression_gzip":    compression(gzip.NewCompressionCodec(), "gzip"),
		"compression_snappy":  compression(snappy.NewCompressionCodec(), "snappy"),
		"compression_lz4":     compression(lz4.NewCompressionCodec(), "lz4"),
		"compression_zstd":    na("kafka-go 0.2.1 has no zstd codec"),
		"delete_topic":        sDeleteTopic,
	})
}
