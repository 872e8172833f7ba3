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

// kubeletURL is https://<node>:<port>/{endpoint}/{namespace}/{pod}/{container}?query on the
// kubelet of the node pod is bound to (without /{container} when container is empty, as
// for /portForward), and that node's name. A pod bound to no node is upstream's 400; a
// server without a kubelet client answers 503.
func (c *Call) kubeletURL(ctx context.Context, pod *corev1.Pod, endpoint, container string, query url.Values) (*url.URL, string, error) {
	info := c.info
	nodeName := pod.GetSpec().GetNodeName()
	if nodeName == "" {
		return nil, "", apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", info.Name))
	}
	if c.p.Kubelet == nil {
		return nil, "", apierrors.NewServiceUnavailable("this apiserver has no kubelet client configured")
	}
	nodes, ok := c.p.Registry.Lookup("", "v1", "nodes")
	if !ok {
		return nil, "", apierrors.NewInternalError(errors.New("no nodes resource"))
	}
	nodeObj, err := c.p.Stores[nodes].Get(ctx, "", nodeName)
	if err != nil {
		return nil, "", err
	}
	host, port, err := kubeletHostPort(nodeObj.(*corev1.Node))
	if err != nil {
		return nil, "", apierrors.NewInternalError(err)
	}
	u := &url.URL{
		Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + endpoint + "/" + info.Namespace + "/" + info.Name,
		RawPath:  "/" + endpoint + "/" + url.PathEscape(info.Namespace) + "/" + url.PathEscape(info.Name),
		RawQuery: query.Encode(),
	}
	if container != "" {
		u.Path += "/" + container
		u.RawPath += "/" + url.PathEscape(container)
	}
	return u, nodeName, nil
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

// KubeletError explains a kubelet that could not be reached or did not prove who it is.
func KubeletError(node, hostPort string, err error) error {
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
