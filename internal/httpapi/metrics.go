package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in their own registry.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	activations *prometheus.CounterVec
	validations *prometheus.CounterVec
	keysIssued  prometheus.Counter
	feedback    *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "echt_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "echt_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route"})
	m.activations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "echt_activations_total", Help: "Activation requests by outcome reason."}, []string{"reason"})
	m.validations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "echt_validations_total", Help: "Online validations by status and reason."}, []string{"status", "reason"})
	m.keysIssued = prometheus.NewCounter(prometheus.CounterOpts{Name: "echt_keys_issued_total", Help: "Product keys issued by this node."})
	m.feedback = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "echt_help_feedback_total", Help: "Answers to 'Was this helpful?' by page and answer."}, []string{"page", "helpful"})
	m.reg.MustRegister(m.requests, m.duration, m.activations, m.validations, m.keysIssued, m.feedback)
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
