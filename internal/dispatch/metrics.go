package dispatch

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/sender"
)

// Metrics are the dispatcher's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	attempts   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
	inflight   prometheus.Gauge
	circuits   prometheus.Gauge
}

// NewMetrics registers the dispatcher's metrics with reg, and a collector
// that reads the queue depth from store at every scrape.
func NewMetrics(reg prometheus.Registerer, store hook.Store) (*Metrics, error) {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_attempts_total",
			Help: "Delivery attempts made, by result: success, or the error class of a failure.",
		}, []string{"result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_total",
			Help: "Attempts by the delivery's outcome: succeeded, retrying (a retry is scheduled) or failed (the schedule is exhausted).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, from connect to the last byte read.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_attempts_in_flight",
			Help: "Delivery attempts in progress in this process.",
		}),
		circuits: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_open_circuits",
			Help: "Endpoints whose circuit breaker is open or half-open in this process.",
		}),
	}
	for _, c := range []prometheus.Collector{m.attempts, m.deliveries, m.duration, m.inflight, m.circuits, queueCollector{store}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) attempt(o hook.Outcome, res sender.Result) {
	if m == nil {
		return
	}
	result := "success"
	if !res.Success() {
		result = string(res.Class)
	}
	m.attempts.WithLabelValues(result).Inc()
	outcome := string(o.Status)
	if o.Status == hook.DeliveryPending {
		outcome = "retrying"
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	m.duration.Observe(res.Duration.Seconds())
}

func (m *Metrics) inFlight(delta float64) {
	if m != nil {
		m.inflight.Add(delta)
	}
}

func (m *Metrics) openCircuits(n int) {
	if m != nil {
		m.circuits.Set(float64(n))
	}
}

// queueCollector reports the store's queue depth when scraped.
type queueCollector struct{ store hook.Store }

var queueDesc = prometheus.NewDesc("herald_queue_deliveries",
	"Pending deliveries by state: pending (all), due (waiting for a worker) and leased (being attempted).",
	[]string{"state"}, nil)

func (queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := q.store.QueueStats(ctx, hook.Timestamp(time.Now()))
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(s.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(s.Due), "due")
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(s.Leased), "leased")
}
