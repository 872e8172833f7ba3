// Package cache is kubelab's port of client-go's tools/cache: a thread-safe indexed store of
// API objects, the Reflector that keeps one in sync with the apiserver by list+watch, the
// SharedIndexInformer that fans changes out to event handlers, and typed Listers.
//
// Ownership: objects in a store are shared by every informer client and must never be
// modified; copy them (proto.Clone) before writing.
package cache
