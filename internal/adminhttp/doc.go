// Package adminhttp is what agent and lb share: hardened admin/health HTTP
// serving, descriptor budget, accept backoff.
//
// An admin or health port is served by NewServer, which bounds how long a
// client may take to send its headers and body, how long a response may
// take and how long an idle keep-alive connection stays, and caps the
// header size; Limit caps the connections one listener holds, closing the
// ones over the cap at once. The descriptor budget (RaiseNoFile, Budget)
// splits the process's RLIMIT_NOFILE so that the data plane is refused
// new client connections before the descriptors kept for health checks
// and the admin endpoint are touched: the process's own exhaustion must
// never read as a member failure. Backoff paces accept loops that fail.
package adminhttp
