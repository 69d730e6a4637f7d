// Compat scenarios with sarama as Debian ships it (golang-github-shopify-sarama-dev, 1.22), built in GOPATH mode
// by compat/run.py. Same contract as the other runners: --bootstrap HOST:PORT [--scenarios a,b] [--timeouts
// name=S,...]; one JSON line with the client and version, then one per scenario. sarama 1.22 has no
// transactional producer (it came in 1.37), so that scenario is n/a.
package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

// libVersion is set at build time from the Debian package version (-ldflags -X main.libVersion=...).
var libVersion = "1.22"

const client = "sarama"

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "kbroker-compat"
	c.Version = sarama.V2_1_0_0 // the newest protocol versions this sarama knows (zstd needs 2.1)
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 15 * time.Second
	c.Net.WriteTimeout = 15 * time.Second
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewHashPartitioner
	c.Producer.Retry.Max = 3
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	c.Consumer.MaxWaitTime = 500 * time.Millisecond
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	return c
}

func admin(bootstrap string) (sarama.ClusterAdmin, error) {
	return sarama.NewClusterAdmin(addresses(bootstrap), config())
}

func create(bootstrap, topic string, partitions int32) error {
	a, err := admin(bootstrap)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: int16(replicationFactor(bootstrap))}, false)
}

// produce sends keyed messages with acks=all through a SyncProducer and checks every result.
func produce(bootstrap, topic string, items [][2]string, tweak func(*sarama.Config)) (map[string]int32, error) {
	c := config()
	if tweak != nil {
		tweak(c)
	}
	p, err := sarama.NewSyncProducer(addresses(bootstrap), c)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(items))
	for i, kv := range items {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(kv[0]), Value: sarama.StringEncoder(kv[1])}
	}
	if err := p.SendMessages(msgs); err != nil {
		if pe, ok := err.(sarama.ProducerErrors); ok && len(pe) > 0 {
			return nil, fmt.Errorf("%d of %d messages failed, first: %v", len(pe), len(msgs), pe[0].Err)
		}
		return nil, err
	}
	partOf := map[string]int32{}
	seen := map[int32]map[int64]bool{}
	for i, m := range msgs {
		k := items[i][0]
		if p, ok := partOf[k]; ok && p != m.Partition {
			return nil, failf("key %s delivered to partitions %d and %d", k, p, m.Partition)
		}
		partOf[k] = m.Partition
		if seen[m.Partition] == nil {
			seen[m.Partition] = map[int64]bool{}
		}
		if m.Offset < 0 || seen[m.Partition][m.Offset] {
			return nil, failf("partition %d: bad or duplicate offset %d", m.Partition, m.Offset)
		}
		seen[m.Partition][m.Offset] = true
	}
	return partOf, nil
}

// readPartitions reads every partition from the oldest offset without a group.
func readPartitions(bootstrap, topic string, count int, partitions int32) ([]row, error) {
	c, err := sarama.NewConsumer(addresses(bootstrap), config())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make(chan row, 1000)
	var pcs []sarama.PartitionConsumer
	for p := int32(0); p < partitions; p++ {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		pcs = append(pcs, pc)
		go func(pc sarama.PartitionConsumer) {
			for m := range pc.Messages() {
				out <- row{string(m.Key), string(m.Value), m.Partition}
			}
		}(pc)
	}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	var rows []row
	deadline := time.After(30 * time.Second)
	for len(rows) < count {
		select {
		case r := <-out:
			rows = append(rows, r)
		case <-deadline:
			return rows, nil
		}
	}
	linger := time.After(time.Second)
	for {
		select {
		case r := <-out:
			rows = append(rows, r)
		case <-linger:
			return rows, nil
		}
	}
}

// member is one consumer-group member; its handler records messages and the partitions it holds.
type member struct {
	group    sarama.ConsumerGroup
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	rows     []row
	assigned map[int32]bool
	keep     func(n int) bool // whether to record (and mark) the n-th message
	err      error
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assigned = map[int32]bool{}
	for _, ps := range s.Claims() {
		for _, p := range ps {
			m.assigned[p] = true
		}
	}
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assigned = map[int32]bool{}
	return nil
}

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		m.mu.Lock()
		if m.keep == nil || m.keep(len(m.rows)) {
			m.rows = append(m.rows, row{string(msg.Key), string(msg.Value), msg.Partition})
			s.MarkMessage(msg, "")
		}
		m.mu.Unlock()
	}
	return nil
}

func (m *member) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

func (m *member) parts() map[int32]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32]bool{}
	for p := range m.assigned {
		out[p] = true
	}
	return out
}

func (m *member) snapshot() []row {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]row(nil), m.rows...)
}

func join(bootstrap, group, topic string, keep func(int) bool) (*member, error) {
	g, err := sarama.NewConsumerGroup(addresses(bootstrap), group, config())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{group: g, cancel: cancel, done: make(chan struct{}), assigned: map[int32]bool{}, keep: keep}
	go func() {
		for err := range g.Errors() {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m); err != nil {
				m.mu.Lock()
				m.err = err
				m.mu.Unlock()
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	return m, nil
}

func (m *member) close() {
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
	}
	m.group.Close()
}

func (m *member) lastErr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		return ""
	}
	return " (last error: " + m.err.Error() + ")"
}

// ---------------------------------------------------------------------------------------------- scenarios

func sMetadata(bootstrap string) error {
	a, err := admin(bootstrap)
	if err != nil {
		return err
	}
	defer a.Close()
	// DescribeCluster asks Metadata v0, which carries no controller id; Controller() asks v1+.
	brokers, _, err := a.DescribeCluster()
	if err != nil {
		return err
	}
	want := addresses(bootstrap)
	sort.Strings(want)
	var advertised []string
	for _, b := range brokers {
		advertised = append(advertised, b.Addr())
	}
	sort.Strings(advertised)
	if strings.Join(advertised, ",") != strings.Join(want, ",") {
		return failf("expected brokers %v, got %v", want, advertised)
	}
	cl, err := sarama.NewClient(addresses(bootstrap), config())
	if err != nil {
		return err
	}
	defer cl.Close()
	controller, err := cl.Controller()
	if err != nil {
		return fmt.Errorf("Controller(): %v", err)
	}
	known := false
	for _, b := range brokers {
		known = known || b.ID() == controller.ID()
	}
	if !known {
		return failf("controller %d is not one of the brokers", controller.ID())
	}
	return nil
}

func sCreateTopic(bootstrap string) error {
	t := topicName(client, "create")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	a, err := admin(bootstrap)
	if err != nil {
		return err
	}
	defer a.Close()
	md, err := a.DescribeTopics([]string{t})
	if err != nil {
		return err
	}
	if len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != partitions {
		return failf("topic metadata: %d topics, error %v, %d partitions", len(md), md[0].Err, len(md[0].Partitions))
	}
	for _, p := range md[0].Partitions {
		if len(p.Replicas) != replicationFactor(bootstrap) {
			return failf("partition %d replicas %v", p.ID, p.Replicas)
		}
	}
	err = a.CreateTopic(t, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: int16(replicationFactor(bootstrap))}, false)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		return failf("creating an existing topic answered %v", err)
	}
	return nil
}

func sProduceAcksAll(bootstrap string) error {
	t := topicName(client, "produce")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	_, err := produce(bootstrap, t, messages(), nil)
	return err
}

func sConsumeGroup(bootstrap string) error {
	t := topicName(client, "consume")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	parts, err := produce(bootstrap, t, messages(), nil)
	if err != nil {
		return err
	}
	m, err := join(bootstrap, groupName(client, "consume"), t, nil)
	if err != nil {
		return err
	}
	waitFor(func() bool { return m.count() >= len(messages()) }, 40*time.Second)
	m.close()
	if err := verifyConsumed(m.snapshot(), parts, messages()); err != nil {
		return fmt.Errorf("%v%s", err, m.lastErr())
	}
	return nil
}

func sCommitResume(bootstrap string) error {
	t := topicName(client, "resume")
	g := groupName(client, "resume")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	parts, err := produce(bootstrap, t, messages(), nil)
	if err != nil {
		return err
	}
	total := len(messages())
	m1, err := join(bootstrap, g, t, func(n int) bool { return n < total/2 })
	if err != nil {
		return err
	}
	ok := waitFor(func() bool { return m1.count() >= total/2 }, 40*time.Second)
	time.Sleep(500 * time.Millisecond) // a commit interval
	m1.close()
	if !ok {
		return failf("first consumer got %d of %d%s", m1.count(), total/2, m1.lastErr())
	}
	m2, err := join(bootstrap, g, t, nil)
	if err != nil {
		return err
	}
	waitFor(func() bool { return m2.count() >= total-total/2 }, 40*time.Second)
	time.Sleep(1500 * time.Millisecond)
	m2.close()
	return verifyConsumed(append(m1.snapshot(), m2.snapshot()...), parts, messages())
}

func setOf(m map[int32]bool) []int {
	var out []int
	for p := range m {
		out = append(out, int(p))
	}
	sort.Ints(out)
	return out
}

func sGroupRebalance(bootstrap string) error {
	t := topicName(client, "rebalance")
	g := groupName(client, "rebalance")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	m1, err := join(bootstrap, g, t, nil)
	if err != nil {
		return err
	}
	defer m1.close()
	if !waitFor(func() bool { return len(m1.parts()) == partitions }, 30*time.Second) {
		return failf("first member assigned %v%s", setOf(m1.parts()), m1.lastErr())
	}
	m2, err := join(bootstrap, g, t, nil)
	if err != nil {
		return err
	}
	split := func() bool {
		a, b := m1.parts(), m2.parts()
		if len(a) == 0 || len(b) == 0 || len(a)+len(b) != partitions {
			return false
		}
		for p := range a {
			if b[p] {
				return false
			}
		}
		return true
	}
	if !waitFor(split, 40*time.Second) {
		m2.close()
		return failf("two members did not split the partitions: %v / %v", setOf(m1.parts()), setOf(m2.parts()))
	}
	a, b := m1.parts(), m2.parts()
	var batchA, batchB [][2]string
	for i := 0; i < 10; i++ {
		for _, k := range keys {
			if i < 5 {
				batchA = append(batchA, [2]string{k, fmt.Sprintf("%s:%d", k, i)})
			} else {
				batchB = append(batchB, [2]string{k, fmt.Sprintf("%s:%d", k, i)})
			}
		}
	}
	if _, err := produce(bootstrap, t, batchA, nil); err != nil {
		m2.close()
		return err
	}
	if !waitFor(func() bool { return m1.count()+m2.count() >= len(batchA) }, 30*time.Second) {
		m2.close()
		return failf("members consumed %d+%d of %d", m1.count(), m2.count(), len(batchA))
	}
	for _, r := range m1.snapshot() {
		if !a[r.p] {
			m2.close()
			return failf("first member got a message from partition %d, assigned %v", r.p, setOf(a))
		}
	}
	for _, r := range m2.snapshot() {
		if !b[r.p] {
			m2.close()
			return failf("second member got a message from partition %d, assigned %v", r.p, setOf(b))
		}
	}
	time.Sleep(500 * time.Millisecond) // a commit interval
	m2.close()
	if !waitFor(func() bool { return len(m1.parts()) == partitions }, 40*time.Second) {
		return failf("after the second member left the first has %v%s", setOf(m1.parts()), m1.lastErr())
	}
	before := m1.count()
	if _, err := produce(bootstrap, t, batchB, nil); err != nil {
		return err
	}
	waitFor(func() bool { return m1.count()-before >= len(batchB) }, 30*time.Second)
	time.Sleep(time.Second)
	after := m1.snapshot()[before:]
	var got, want []string
	for _, r := range after {
		got = append(got, r.v)
	}
	for _, kv := range batchB {
		want = append(want, kv[1])
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return failf("after takeover the remaining member got %d messages, expected exactly the %d new ones", len(got), len(want))
	}
	return nil
}

func stableGroup(bootstrap, scenario string) (string, string, *member, error) {
	t := topicName(client, scenario)
	g := groupName(client, scenario)
	if err := create(bootstrap, t, partitions); err != nil {
		return "", "", nil, err
	}
	if _, err := produce(bootstrap, t, messages()[:24], nil); err != nil {
		return "", "", nil, err
	}
	m, err := join(bootstrap, g, t, nil)
	if err != nil {
		return "", "", nil, err
	}
	if !waitFor(func() bool { return m.count() >= 24 }, 30*time.Second) {
		m.close()
		return "", "", nil, failf("group member consumed %d of 24%s", m.count(), m.lastErr())
	}
	time.Sleep(500 * time.Millisecond)
	return t, g, m, nil
}

func sListGroups(bootstrap string) error {
	_, g, m, err := stableGroup(bootstrap, "listgroups")
	if err != nil {
		return err
	}
	defer m.close()
	a, err := admin(bootstrap)
	if err != nil {
		return err
	}
	defer a.Close()
	groups, err := a.ListConsumerGroups()
	if err != nil {
		return err
	}
	if pt, ok := groups[g]; !ok || pt != "consumer" {
		return failf("group %s listed as %q (found %v)", g, pt, ok)
	}
	return nil
}

func sDescribeGroups(bootstrap string) error {
	t, g, m, err := stableGroup(bootstrap, "describegroups")
	if err != nil {
		return err
	}
	defer m.close()
	a, err := admin(bootstrap)
	if err != nil {
		return err
	}
	defer a.Close()
	ds, err := a.DescribeConsumerGroups([]string{g})
	if err != nil {
		return err
	}
	if len(ds) != 1 || ds[0].Err != sarama.ErrNoError {
		return failf("describe answered %d groups, error %v", len(ds), ds[0].Err)
	}
	d := ds[0]
	if d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol == "" || len(d.Members) != 1 {
		return failf("state %q protocol %q/%q members %d", d.State, d.ProtocolType, d.Protocol, len(d.Members))
	}
	for _, mem := range d.Members {
		as, err := mem.GetMemberAssignment()
		if err != nil {
			return fmt.Errorf("member assignment: %v", err)
		}
		if len(as.Topics[t]) != partitions {
			return failf("member assignment %v", as.Topics)
		}
	}
	offs, err := a.ListConsumerGroupOffsets(g, map[string][]int32{t: {0, 1, 2}})
	if err != nil {
		return err
	}
	var sum int64
	for _, blk := range offs.Blocks[t] {
		sum += blk.Offset
	}
	if sum != 24 {
		return failf("committed offsets add up to %d, expected 24", sum)
	}
	return nil
}

func sListOffsets(bootstrap string) error {
	t := topicName(client, "offsets")
	if err := create(bootstrap, t, 1); err != nil {
		return err
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	p, err := sarama.NewSyncProducer(addresses(bootstrap), config())
	if err != nil {
		return err
	}
	for i := 0; i < 10; i++ {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: t, Key: sarama.StringEncoder("k"),
			Value: sarama.StringEncoder(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Second)})
		if err != nil {
			p.Close()
			return err
		}
	}
	p.Close()
	c, err := sarama.NewClient(addresses(bootstrap), config())
	if err != nil {
		return err
	}
	defer c.Close()
	ms := func(t time.Time) int64 { return t.UnixNano() / 1e6 }
	for _, q := range []struct {
		name string
		ts   int64
		want int64
	}{
		{"earliest", sarama.OffsetOldest, 0},
		{"latest", sarama.OffsetNewest, 10},
		{"by timestamp", ms(base.Add(3500 * time.Millisecond)), 4},
		{"after the last message", ms(base.Add(99 * time.Second)), -1},
	} {
		got, err := c.GetOffset(t, 0, q.ts)
		if err != nil {
			return fmt.Errorf("%s: %v", q.name, err)
		}
		if got != q.want {
			return failf("%s: offset %d, expected %d", q.name, got, q.want)
		}
	}
	return nil
}

func sIdempotent(bootstrap string) error {
	t := topicName(client, "idempotent")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	parts, err := produce(bootstrap, t, messages(), func(c *sarama.Config) {
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	})
	if err != nil {
		return err
	}
	rows, err := readPartitions(bootstrap, t, len(messages()), partitions)
	if err != nil {
		return err
	}
	return verifyConsumed(rows, parts, messages())
}

func compression(codec sarama.CompressionCodec, name string) func(string) error {
	return func(bootstrap string) error {
		t := topicName(client, name)
		if err := create(bootstrap, t, partitions); err != nil {
			return err
		}
		parts, err := produce(bootstrap, t, messages(), func(c *sarama.Config) { c.Producer.Compression = codec })
		if err != nil && codec == sarama.CompressionZSTD && strings.Contains(err.Error(), "compression type") {
			// what Apache Kafka answers too: zstd needs Produce v7, and this sarama sends at most v3
			return notApplicable{"sarama 1.22 sends zstd batches in Produce v3; Kafka refuses zstd below Produce v7 " +
				"(UNSUPPORTED_COMPRESSION_TYPE), and so did kbroker: " + err.Error()}
		}
		if err != nil {
			return err
		}
		rows, err := readPartitions(bootstrap, t, len(messages()), partitions)
		if err != nil {
			return err
		}
		return verifyConsumed(rows, parts, messages())
	}
}

func sDeleteTopic(bootstrap string) error {
	t := topicName(client, "delete")
	if err := create(bootstrap, t, partitions); err != nil {
		return err
	}
	if _, err := produce(bootstrap, t, messages()[:8], nil); err != nil {
		return err
	}
	a, err := admin(bootstrap)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.DeleteTopic(t); err != nil {
		return err
	}
	// ListTopics is sarama's only listing: Metadata for all topics, then DescribeConfigs for each of them
	var listErr error
	gone := func() bool {
		ts, err := a.ListTopics()
		_, present := ts[t]
		listErr = err
		return err == nil && !present
	}
	if !waitFor(gone, 10*time.Second) {
		if listErr != nil {
			return fmt.Errorf("ListTopics (Metadata + DescribeConfigs) after deletion: %v", listErr)
		}
		return failf("topic still listed 10 s after deletion")
	}
	if err := a.DeleteTopic(t); err != sarama.ErrUnknownTopicOrPartition {
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
		"list_groups":         sListGroups,
		"describe_groups":     sDescribeGroups,
		"list_offsets":        sListOffsets,
		"idempotent_producer": sIdempotent,
		"transactions":        na("sarama 1.22 has no transactional producer (added in 1.37)"),
		"compression_gzip":    compression(sarama.CompressionGZIP, "gzip"),
		"compression_snappy":  compression(sarama.CompressionSnappy, "snappy"),
		"compression_lz4":     compression(sarama.CompressionLZ4, "lz4"),
		"compression_zstd":    compression(sarama.CompressionZSTD, "zstd"),
		"delete_topic":        sDeleteTopic,
	})
}
