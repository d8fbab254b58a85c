#!/usr/bin/env python3
"""Where one client's transaction spends its time, stage by stage.

Reads the text of `perf script` over a one-client `tcc_bench` run and
follows each transaction through the system calls of the four processes:
the client's sendmsg of an Execute, tccd reading it, tccd's fdatasync of
the record, its two Try sendmsgs, each participant reading its Try,
syncing and replying, tccd reading both replies, its fdatasync of the
decision, its answer and the client reading it. Prints the median and mean
of each stage. Only meaningful at one client (transactions must not
overlap); the Confirms of the previous transaction do overlap and are told
apart by socket.

    build/bench/tcc_bench --concurrency=1 --duration=25s --echo=false \\
        --paired_rounds=0 --memory_probe=false --disk_probe=0 &
    # once it prints "tcc_bench pid C, tccd pid T, participant pid A, ..."
    perf record -o t.data -m 1024 -a -e 'syscalls:sys_enter_sendmsg,\\
    syscalls:sys_enter_recvmsg,syscalls:sys_exit_recvmsg,\\
    syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync' -- sleep 2
    perf script -i t.data -F comm,pid,tid,time,event,trace > t.txt
    bench/syscall_timeline.py t.txt C T A B

The tracepoints cost a few per cent; the total is a little above the
benchmark's own p50 for that reason.
"""

import collections
import re
import statistics
import sys

LINE = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$')
FD = re.compile(r'fd: 0x([0-9a-f]+)')
KINDS = {
    'sys_enter_sendmsg': 'send',
    'sys_enter_fdatasync': 'sync_in',
    'sys_exit_fdatasync': 'sync_out',
}
LIMIT_US = 20000  # a stage longer than this means the trace lost events


def read_events(path, pids):
    events, open_recv = [], {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            _, pid, tid, t, event, trace = m.groups()
            pid, tid = int(pid), int(tid)
            if pid not in pids:
                continue
            event = event.split(':', 1)[1]
            fd_match = FD.search(trace)
            fd = int(fd_match.group(1), 16) if fd_match else None
            if event == 'sys_enter_recvmsg':
                open_recv[tid] = fd
                continue
            if event == 'sys_exit_recvmsg':
                ret = int(trace, 16)
                fd = open_recv.pop(tid, None)
                if ret <= 0 or ret >= 1 << 63:  # EAGAIN and other errors
                    continue
                kind = 'recv'
            elif event in KINDS:
                kind = KINDS[event]
            else:
                continue
            events.append((float(t) * 1e6, pid, kind, fd))
    events.sort()
    return events


class Trace:
    def __init__(self, events):
        self.ev = events

    def next(self, i, pid, kind, fd=None):
        """Index of the first event after i matching, or None."""
        if i is None:
            return None
        t0 = self.ev[i][0]
        for j in range(i + 1, len(self.ev)):
            t, p, k, f = self.ev[j]
            if t - t0 > LIMIT_US:
                return None
            if p == pid and k == kind and (fd is None or f == fd):
                return j
        return None

    def time(self, i):
        return self.ev[i][0]


def most_common(counter, what):
    if not counter:
        sys.exit('no %s found: wrong pids, or too few events' % what)
    return counter.most_common(1)[0][0]


def socket_of(trace, sender, receiver, side):
    """The fd on `side` (receiver or sender) of sender -> receiver traffic:
    the one most often seen when the first read anywhere after one of the
    sender's sendmsgs is the receiver's."""
    c = collections.Counter()
    for i, (_, pid, kind, fd) in enumerate(trace.ev):
        if pid != sender or kind != 'send':
            continue
        for j in range(i + 1, min(i + 200, len(trace.ev))):
            if trace.ev[j][2] != 'recv' or trace.ev[j][1] == sender:
                continue
            if trace.ev[j][1] == receiver:
                c[trace.ev[j][3] if side == 'receiver' else fd] += 1
            break
    return most_common(c, 'traffic %d -> %d' % (sender, receiver))


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    client, tccd, part_a, part_b = (int(x) for x in sys.argv[2:6])
    trace = Trace(read_events(sys.argv[1], {client, tccd, part_a, part_b}))
    from_client = socket_of(trace, client, tccd, 'receiver')
    to_client = socket_of(trace, tccd, client, 'sender')
    parts = []
    for tag, pid in (('A', part_a), ('B', part_b)):
        parts.append((tag, pid, socket_of(trace, tccd, pid, 'sender'),
                      socket_of(trace, pid, tccd, 'receiver')))

    rows = []
    for i, (t, pid, kind, _) in enumerate(trace.ev):
        if pid != client or kind != 'send':
            continue
        r = {'start': t}
        j = trace.next(i, tccd, 'recv', from_client)
        j = _mark(r, 'read', trace, j)
        j = _mark(r, 'rec_in', trace, trace.next(j, tccd, 'sync_in'))
        synced = _mark(r, 'rec_out', trace, trace.next(j, tccd, 'sync_out'))
        last = []
        for tag, p, out_fd, in_fd in parts:
            k = _mark(r, tag + 'sent', trace,
                      trace.next(synced, tccd, 'send', out_fd))
            k = _mark(r, tag + 'read', trace, trace.next(k, p, 'recv'))
            k = _mark(r, tag + 'in', trace, trace.next(k, p, 'sync_in'))
            k = _mark(r, tag + 'out', trace, trace.next(k, p, 'sync_out'))
            k = _mark(r, tag + 'reply', trace, trace.next(k, p, 'send'))
            k = _mark(r, tag + 'got', trace,
                      trace.next(k, tccd, 'recv', in_fd))
            last.append(k)
        if None in last:
            continue
        k = _mark(r, 'dec_in', trace, trace.next(max(last), tccd, 'sync_in'))
        k = _mark(r, 'dec_out', trace, trace.next(k, tccd, 'sync_out'))
        k = _mark(r, 'answer', trace, trace.next(k, tccd, 'send', to_client))
        k = _mark(r, 'end', trace, trace.next(k, client, 'recv'))
        if k is None:
            continue
        r['first_sent'] = min(r['Asent'], r['Bsent'])
        r['last_got'] = max(r['Agot'], r['Bgot'])
        rows.append(r)
    if not rows:
        sys.exit('no complete transaction in the trace')

    def stage(a, b, label):
        v = [r[b] - r[a] for r in rows]
        print('%-52s %7.0f %7.0f' % (label, statistics.median(v),
                                     statistics.mean(v)))

    print('%d transactions; microseconds' % len(rows))
    print('%-52s %7s %7s' % ('stage', 'p50', 'mean'))
    stage('start', 'read', 'client sendmsg -> tccd reads the Execute')
    stage('read', 'rec_in', 'tccd: Execute read -> record fdatasync')
    stage('rec_in', 'rec_out', 'tccd: record fdatasync')
    stage('rec_out', 'first_sent', 'tccd: synced -> first Try sendmsg')
    for tag, _, _, _ in parts:
        stage(tag + 'sent', tag + 'read', tag + ': Try sendmsg -> read')
        stage(tag + 'read', tag + 'in', tag + ': read -> fdatasync')
        stage(tag + 'in', tag + 'out', tag + ': fdatasync')
        stage(tag + 'out', tag + 'reply', tag + ': synced -> reply sendmsg')
        stage(tag + 'reply', tag + 'got', tag + ': reply sendmsg -> tccd reads')
    stage('first_sent', 'last_got', 'tccd: first Try sent -> last reply read')
    stage('last_got', 'dec_in', 'tccd: last reply -> decision fdatasync')
    stage('dec_in', 'dec_out', 'tccd: decision fdatasync')
    stage('dec_out', 'answer', 'tccd: synced -> answer sendmsg')
    stage('answer', 'end', 'answer sendmsg -> client reads it')
    stage('start', 'end', 'total')


def _mark(row, name, trace, index):
    if index is not None:
        row[name] = trace.time(index)
    return index


if __name__ == '__main__':
    main()
