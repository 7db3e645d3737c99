/*
 * Membership and accounting (USAGE_REPORT_JOIN / USAGE_REPORT_LEAVE) and
 * error and problem reports (ERROR_REPORT / PROBLEM_REPORT), sans-IO.
 *
 * Receiver side: once it hears a sender, a receiver reports that it is a
 * member, then again at a randomised interval: T = max(base, gsize / 100 s)
 * (the group as a whole sends about 100 usage reports per second, whatever
 * its size: RTCP's scaling of report intervals, RFC 3550 §6.2), each report
 * drawn uniformly in [0.5 T, 1.5 T] (RFC 3550 §6.3.1), the first one in
 * [0, 0.5 T]. Errors and problems are reported at most once per second each
 * (burst 3), so a sick network never floods the sender.
 *
 * Sender side: a table of members (address, first and last report, the
 * counters they report) with join and leave events; a member that stops
 * reporting leaves by timeout (max(configured timeout, 3.5 x its interval));
 * each member may send at most 10 reports per second.
 */
#ifndef SMART_MEMBERS_H
#define SMART_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#include "smart/smart.h"

struct smart__members;

int smart__members_new(struct smart__members **out, uint64_t report_ns, uint64_t timeout_ns,
                       uint64_t seed);
void smart__members_del(struct smart__members *m);

/* ---- receiver --------------------------------------------------------- */

/* What a report says about this receiver. */
struct smart__rx_counts {
  uint64_t received, recovered, lost, auth_failures;
};
/* A sender is heard (reports start), with its group size estimate. */
void smart__members_heard(struct smart__members *m, uint32_t gsize, uint64_t now);
/* Queue an error or problem report (rate-limited; 0 or SMART_EAGAIN when
 * the budget is spent). */
int smart__members_report(struct smart__members *m, unsigned kind_error, uint32_t code,
                          uint32_t a1, uint32_t a2, uint64_t now);
/* Queue ERROR_REPORT 3 (receive buffer filling: the reading rate in KiB/s,
 * the fill in per mille) ahead of the others and outside their budget:
 * flow control, which the session paces (proto/flow.c). 0 or SMART_EAGAIN when
 * the queue is full. */
int smart__members_pressure(struct smart__members *m, uint32_t kib_s, uint32_t permille);
/* The next report to multicast (plaintext), or 0. `leaving` asks for the
 * final USAGE_REPORT_LEAVE. */
smart_ssize smart__members_output(struct smart__members *m, uint8_t *buf, size_t cap,
                                  uint8_t sync, uint32_t self_v4, uint32_t group_v4,
                                  const struct smart__rx_counts *c, int leaving, uint64_t now);

/* Would smart__members_output() produce a report now? (Cheap: for the
 * send path, which asks on every pass.) */
int smart__members_due(const struct smart__members *m, int leaving, uint64_t now);

/* ---- sender ----------------------------------------------------------- */

/* A report from member `id` (its address as text). Returns 1 if the
 * datagram was a report (consumed, valid or not), 0 otherwise. */
int smart__members_input(struct smart__members *m, uint64_t id, const char *addr,
                         const uint8_t *dg, size_t len, uint64_t now);
/* Expire silent members. */
void smart__members_expire(struct smart__members *m, uint64_t now);
/* Queue an event of our own (a group change). */
void smart__members_push(struct smart__members *m, const struct smart_event *ev);
/* Pop the oldest event: 1, or 0 when none. */
int smart__members_event(struct smart__members *m, struct smart_event *ev);
/* The number of members, and member i (0-based) as the API shows it. */
size_t smart__members_list(const struct smart__members *m, struct smart_member *out, size_t max,
                           uint64_t now);
void smart__members_list_one(const struct smart__members *m, size_t i, struct smart_member *out,
                             uint64_t now);
uint64_t smart__members_expiry(const struct smart__members *m);
uint64_t smart__members_limited(const struct smart__members *m);

#endif
