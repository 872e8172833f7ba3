// Package extender is the HTTP client of kube-scheduler's scheduler extenders: it POSTs
// ExtenderArgs to urlPrefix/filterVerb and urlPrefix/prioritizeVerb and reads an
// ExtenderFilterResult or a HostPriorityList back. The JSON is upstream's
// (k8s.io/kube-scheduler/extender/v1, whose fields carry no json tags, so the keys are the
// Go field names: "Pod", "Nodes", "NodeNames", "FailedNodes", "Host", "Score"), with the
// pod and nodes in Kubernetes' JSON.
package extender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	corev1 "kubelab.io/proto/api/core/v1"
	"kubelab.io/proto/runtime"
	"kubelab.io/scheduler/internal/config"
	"kubelab.io/scheduler/internal/framework"
)

// Args is upstream's ExtenderArgs; Pod and the items of Nodes are Kubernetes JSON.
type Args struct {
	Pod       json.RawMessage `json:"Pod"`
	Nodes     *NodeList       `json:"Nodes,omitempty"`
	NodeNames *[]string       `json:"NodeNames,omitempty"`
}

// NodeList is a v1 NodeList on the wire.
type NodeList struct {
	Kind       string            `json:"kind,omitempty"`
	APIVersion string            `json:"apiVersion,omitempty"`
	Metadata   json.RawMessage   `json:"metadata,omitempty"`
	Items      []json.RawMessage `json:"items"`
}

// FilterResult is upstream's ExtenderFilterResult.
type FilterResult struct {
	Nodes                      *NodeList         `json:"Nodes,omitempty"`
	NodeNames                  *[]string         `json:"NodeNames,omitempty"`
	FailedNodes                map[string]string `json:"FailedNodes,omitempty"`
	FailedAndUnresolvableNodes map[string]string `json:"FailedAndUnresolvableNodes,omitempty"`
	Error                      string            `json:"Error,omitempty"`
}

// HostPriority is upstream's HostPriority.
type HostPriority struct {
	Host  string `json:"Host"`
	Score int64  `json:"Score"`
}

// HostPriorityList is upstream's HostPriorityList.
type HostPriorityList []HostPriority

// HTTPExtender calls one configured extender. It implements framework.Extender.
type HTTPExtender struct {
	cfg    config.Extender
	client *http.Client
	prefix string
}

var _ framework.Extender = (*HTTPExtender)(nil)

// New builds the client of cfg (cfg.HTTPTimeout bounds every call; 0 means the default).
func New(cfg config.Extender) (*HTTPExtender, error) {
	if cfg.URLPrefix == "" {
		return nil, errors.New("extender: urlPrefix is required")
	}
	if cfg.HTTPTimeout.Duration == 0 {
		cfg.HTTPTimeout.Duration = config.DefaultExtenderTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	if cfg.EnableHTTPS {
		tlsCfg, err := tlsConfig(cfg.TLSConfig)
		if err != nil {
			return nil, fmt.Errorf("extender %s: %w", cfg.URLPrefix, err)
		}
		tr.TLSClientConfig = tlsCfg
	}
	prefix := strings.TrimRight(cfg.URLPrefix, "/")
	if cfg.EnableHTTPS && strings.HasPrefix(prefix, "http://") {
		prefix = "https://" + strings.TrimPrefix(prefix, "http://")
	}
	return &HTTPExtender{cfg: cfg, prefix: prefix, client: &http.Client{Transport: tr, Timeout: cfg.HTTPTimeout.Duration}}, nil
}

func tlsConfig(c *config.ExtenderTLSConfig) (*tls.Config, error) {
	out := &tls.Config{MinVersion: tls.VersionTLS12}
	if c == nil {
		return out, nil
	}
	out.InsecureSkipVerify = c.Insecure //nolint:gosec // the operator asked for it
	out.ServerName = c.ServerName
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", c.CAFile)
		}
		out.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		out.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}

func (e *HTTPExtender) Name() string        { return e.cfg.URLPrefix }
func (e *HTTPExtender) IsFilter() bool      { return e.cfg.FilterVerb != "" }
func (e *HTTPExtender) IsPrioritizer() bool { return e.cfg.PrioritizeVerb != "" }
func (e *HTTPExtender) IsIgnorable() bool   { return e.cfg.Ignorable }
func (e *HTTPExtender) Weight() int64       { return e.cfg.Weight }

// args builds the request body: node names for a node-cache-capable extender, the full
// nodes otherwise.
func (e *HTTPExtender) args(pod *corev1.Pod, nodes []*framework.NodeInfo) (*Args, error) {
	podJSON, err := runtime.MarshalJSON(withTypeMeta(pod))
	if err != nil {
		return nil, fmt.Errorf("encode pod: %w", err)
	}
	a := &Args{Pod: podJSON}
	if e.cfg.NodeCacheCapable {
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.Name()
		}
		a.NodeNames = &names
		return a, nil
	}
	list := &NodeList{Kind: "NodeList", APIVersion: "v1", Metadata: json.RawMessage(`{}`), Items: make([]json.RawMessage, len(nodes))}
	for i, n := range nodes {
		b, err := runtime.MarshalJSON(nodeWithTypeMeta(n.Node()))
		if err != nil {
			return nil, fmt.Errorf("encode node %s: %w", n.Name(), err)
		}
		list.Items[i] = b
	}
	a.Nodes = list
	return a, nil
}

func withTypeMeta(pod *corev1.Pod) *corev1.Pod {
	if pod.GetKind() != "" {
		return pod
	}
	// A new message sharing the parts: the cached pod must not be written to.
	return &corev1.Pod{Kind: "Pod", ApiVersion: "v1", Metadata: pod.Metadata, Spec: pod.Spec, Status: pod.Status}
}

func nodeWithTypeMeta(n *corev1.Node) *corev1.Node {
	if n.GetKind() != "" {
		return n
	}
	return &corev1.Node{Kind: "Node", ApiVersion: "v1", Metadata: n.Metadata, Spec: n.Spec, Status: n.Status}
}

// Filter asks the extender which nodes can take pod.
func (e *HTTPExtender) Filter(ctx context.Context, pod *corev1.Pod, nodes []*framework.NodeInfo) ([]*framework.NodeInfo, map[string]string, map[string]string, error) {
	if !e.IsFilter() {
		return nodes, nil, nil, nil
	}
	args, err := e.args(pod, nodes)
	if err != nil {
		return nil, nil, nil, err
	}
	var res FilterResult
	if err := e.send(ctx, e.cfg.FilterVerb, args, &res); err != nil {
		return nil, nil, nil, err
	}
	if res.Error != "" {
		return nil, nil, nil, fmt.Errorf("extender %s filter: %s", e.cfg.URLPrefix, res.Error)
	}
	byName := make(map[string]*framework.NodeInfo, len(nodes))
	for _, n := range nodes {
		byName[n.Name()] = n
	}
	var names []string
	switch {
	case e.cfg.NodeCacheCapable && res.NodeNames != nil:
		names = *res.NodeNames
	case res.Nodes != nil:
		for _, raw := range res.Nodes.Items {
			var meta struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, nil, fmt.Errorf("extender %s filter: decode node: %w", e.cfg.URLPrefix, err)
			}
			names = append(names, meta.Metadata.Name)
		}
	case res.NodeNames != nil:
		names = *res.NodeNames
	}
	feasible := make([]*framework.NodeInfo, 0, len(names))
	for _, name := range names {
		// Nodes the extender made up are not candidates.
		if n, ok := byName[name]; ok {
			feasible = append(feasible, n)
		}
	}
	return feasible, res.FailedNodes, res.FailedAndUnresolvableNodes, nil
}

// Prioritize asks the extender to score nodes in [0, 10].
func (e *HTTPExtender) Prioritize(ctx context.Context, pod *corev1.Pod, nodes []*framework.NodeInfo) (map[string]int64, error) {
	out := make(map[string]int64, len(nodes))
	if !e.IsPrioritizer() {
		return out, nil
	}
	args, err := e.args(pod, nodes)
	if err != nil {
		return nil, err
	}
	var res HostPriorityList
	if err := e.send(ctx, e.cfg.PrioritizeVerb, args, &res); err != nil {
		return nil, err
	}
	for _, hp := range res {
		out[hp.Host] = min(max(hp.Score, framework.MinNodeScore), framework.MaxExtenderPriority)
	}
	return out, nil
}

// send POSTs args as JSON to prefix/verb and decodes the answer into out.
func (e *HTTPExtender) send(ctx context.Context, verb string, args any, out any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	url := e.prefix + "/" + verb
	ctx, cancel := context.WithTimeout(ctx, e.cfg.HTTPTimeout.Duration)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("extender %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("extender %s: read response after %v: %w", url, time.Since(start), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("extender %s: failed %v with extender at URL %s, code %v", url, verb, url, resp.StatusCode)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("extender %s: decode response: %w", url, err)
	}
	return nil
}
