package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "kubelab.io/proto/api/core/v1"
	metav1 "kubelab.io/proto/api/meta/v1"
	"kubelab.io/proto/apierrors"
)

// DefaultKubeletPort is the kubelet server's port when a Node does not report one in
// status.daemonEndpoints.kubeletEndpoint.Port.
const DefaultKubeletPort = 10250

// kubeletAddressTypes is the order in which a Node's addresses are tried for reaching its
// kubelet (kube-apiserver's --kubelet-preferred-address-types, InternalIP first).
var kubeletAddressTypes = []string{"InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS", "Hostname"}

// maxKubeletErrorBody bounds how much of a kubelet's error answer is read into a Status.
const maxKubeletErrorBody = 50000

// LogOptions are the parameters of pods/log, as Kubernetes' PodLogOptions.
type LogOptions struct {
	Container    string
	Follow       bool
	Previous     bool
	Timestamps   bool
	SinceSeconds *int64
	// SinceTime is an RFC 3339 time, passed to the kubelet as given (after parsing).
	SinceTime  string
	TailLines  *int64
	LimitBytes *int64
}

// Validate checks the options as Kubernetes' ValidatePodLogOptions does.
func (o LogOptions) Validate() apierrors.FieldErrors {
	var errs apierrors.FieldErrors
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, apierrors.Invalid("tailLines", *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, apierrors.Invalid("limitBytes", *o.LimitBytes, "must be greater than 0"))
	}
	switch {
	case o.SinceSeconds != nil && o.SinceTime != "":
		errs = append(errs, apierrors.Forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		errs = append(errs, apierrors.Invalid("sinceSeconds", *o.SinceSeconds, "must be greater than 0"))
	}
	return errs
}

// query is the kubelet's /containerLogs query for the options.
func (o LogOptions) query() url.Values {
	q := url.Values{}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.SinceTime != "" {
		q.Set("sinceTime", o.SinceTime)
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	return q
}

// Logs serves pods/log: it finds the pod's container and node, and opens the container's
// log on the node's kubelet (GET https://<node>:<port>/containerLogs/{ns}/{pod}/{container})
// through p.Kubelet, which authenticates the apiserver and verifies the kubelet's serving
// certificate. The caller streams the returned body to the client and closes it; for a
// follow it should flush as bytes arrive.
func (c *Call) Logs(ctx context.Context, opts LogOptions) (io.ReadCloser, error) {
	info, store := c.info, c.store
	if info.Subresource != "log" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s/%s is not a log", info.Resource, info.Subresource))
	}
	if errs := opts.Validate(); len(errs) > 0 {
		return nil, apierrors.NewInvalid("PodLogOptions", "", info.Name, errs)
	}
	obj, err := store.Get(ctx, info.Namespace, info.Name)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("pods store returned a %T", obj))
	}
	container, err := logContainer(pod, opts.Container)
	if err != nil {
		return nil, err
	}
	nodeName := pod.GetSpec().GetNodeName()
	if nodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", info.Name))
	}
	if c.p.Kubelet == nil {
		return nil, apierrors.NewServiceUnavailable("this apiserver has no kubelet client configured")
	}
	nodes, ok := c.p.Registry.Lookup("", "v1", "nodes")
	if !ok {
		return nil, apierrors.NewInternalError(errors.New("no nodes resource"))
	}
	nodeObj, err := c.p.Stores[nodes].Get(ctx, "", nodeName)
	if err != nil {
		return nil, err
	}
	host, port, err := kubeletHostPort(nodeObj.(*corev1.Node))
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	u := url.URL{
		Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/containerLogs/" + info.Namespace + "/" + info.Name + "/" + container,
		RawPath:  "/containerLogs/" + url.PathEscape(info.Namespace) + "/" + url.PathEscape(info.Name) + "/" + url.PathEscape(container),
		RawQuery: opts.query().Encode(),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	resp, err := c.p.Kubelet.Do(req)
	if err != nil {
		return nil, kubeletError(nodeName, u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, kubeletStatus(nodeName, info.Name, resp)
	}
	body := resp.Body
	if opts.LimitBytes != nil {
		// The kubelet applies limitBytes too; this holds the answer to it whatever the
		// kubelet does.
		body = limitedReadCloser{io.LimitReader(resp.Body, *opts.LimitBytes), resp.Body}
	}
	return body, nil
}

type limitedReadCloser struct {
	io.Reader
	io.Closer
}

// logContainer picks the container whose log is asked for: the one named, which must be
// one of the pod's (init) containers, or else the pod's only container.
func logContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, c := range pod.GetSpec().GetInitContainers() {
		names = append(names, c.GetName())
	}
	for _, c := range pod.GetSpec().GetContainers() {
		names = append(names, c.GetName())
	}
	podName := pod.GetMetadata().GetName()
	if name != "" {
		for _, n := range names {
			if n == name {
				return name, nil
			}
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, podName))
	}
	switch containers := pod.GetSpec().GetContainers(); len(containers) {
	case 1:
		return containers[0].GetName(), nil
	case 0:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", podName))
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", podName, names))
	}
}

// kubeletHostPort is where node's kubelet serves: its first address by
// kubeletAddressTypes, and its reported kubelet port (DefaultKubeletPort when unset).
func kubeletHostPort(node *corev1.Node) (string, int, error) {
	port := int(node.GetStatus().GetDaemonEndpoints().GetKubeletEndpoint().GetPort())
	if port <= 0 {
		port = DefaultKubeletPort
	}
	addrs := node.GetStatus().GetAddresses()
	for _, t := range kubeletAddressTypes {
		for _, a := range addrs {
			if a.GetType() == t && a.GetAddress() != "" {
				return a.GetAddress(), port, nil
			}
		}
	}
	known := make([]string, 0, len(addrs))
	for _, a := range addrs {
		known = append(known, a.GetType()+"="+a.GetAddress())
	}
	return "", 0, fmt.Errorf("node %q has no address to reach its kubelet at (preferred types %v; known addresses: %v)", node.GetMetadata().GetName(), kubeletAddressTypes, known)
}

// kubeletError explains a kubelet that could not be reached or did not prove who it is.
func kubeletError(node, hostPort string, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return apierrors.NewInternalError(fmt.Errorf("the kubelet of node %q at %s did not present a serving certificate this apiserver trusts: %w; "+
			"give the kubelet a serving certificate for its node name and address signed by the CA in --kubelet-certificate-authority "+
			"(by default the cluster CA in --cert-dir), not a self-signed one", node, hostPort, unwrapURL(err)))
	case errors.Is(err, context.Canceled):
		return apierrors.NewTimeout(fmt.Sprintf("request to the kubelet of node %q at %s was cancelled", node, hostPort))
	}
	return apierrors.NewInternalError(fmt.Errorf("cannot reach the kubelet of node %q at %s: %w", node, hostPort, unwrapURL(err)))
}

// unwrapURL drops net/http's `Get "https://…":` prefix; the messages name the kubelet
// themselves.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// kubeletStatus turns a kubelet's non-200 answer into the Status the client gets, carrying
// the kubelet's own message (plain text, or a Status's message).
func kubeletStatus(node, pod string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxKubeletErrorBody))
	msg := strings.TrimSpace(string(b))
	var st struct{ Kind, Message string }
	if json.Unmarshal(b, &st) == nil && st.Kind == "Status" && st.Message != "" {
		msg = st.Message
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	code := int32(resp.StatusCode)
	reason := map[int]string{
		http.StatusBadRequest:          apierrors.ReasonBadRequest,
		http.StatusForbidden:           apierrors.ReasonForbidden,
		http.StatusNotFound:            apierrors.ReasonNotFound,
		http.StatusTooManyRequests:     apierrors.ReasonTooManyRequests,
		http.StatusServiceUnavailable:  apierrors.ReasonServiceUnavailable,
		http.StatusGatewayTimeout:      apierrors.ReasonTimeout,
		http.StatusInternalServerError: apierrors.ReasonInternalError,
	}[resp.StatusCode]
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		// The kubelet did not accept the apiserver's client certificate: a configuration
		// fault between the two servers, not the client's credentials.
		code, reason = http.StatusInternalServerError, apierrors.ReasonInternalError
		msg = fmt.Sprintf("the kubelet of node %q did not accept the apiserver's client certificate (--kubelet-client-certificate; check the kubelet's --client-ca-file): %s", node, msg)
	case resp.StatusCode == http.StatusForbidden:
		msg = fmt.Sprintf("the kubelet of node %q refused the apiserver: %s", node, msg)
	case reason == "":
		code, reason = http.StatusInternalServerError, apierrors.ReasonInternalError
		msg = fmt.Sprintf("the kubelet of node %q answered %s: %s", node, resp.Status, msg)
	}
	return &apierrors.StatusError{ErrStatus: &metav1.Status{
		Status: "Failure", Code: code, Reason: reason, Message: msg,
		Details: &metav1.StatusDetails{Name: pod, Kind: "pods", Causes: []*metav1.StatusCause{{
			Reason: apierrors.CauseUnexpectedServerResp, Message: strings.TrimSpace(string(b)),
		}}},
	}}
}
