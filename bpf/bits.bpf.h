/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * bits.bpf.h - log2 and log2-histogram helpers for the BPF programs
 * (as libbpf-tools' bits.bpf.h): slot i of a histogram counts values
 * whose log2 is i, slot 0 also holds 0, the last slot everything above.
 */
#ifndef RTASYNC_BITS_BPF_H
#define RTASYNC_BITS_BPF_H

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r = 0;

	if (v >= 1U << 16) { v >>= 16; r += 16; }
	if (v >= 1U << 8)  { v >>= 8;  r += 8; }
	if (v >= 1U << 4)  { v >>= 4;  r += 4; }
	if (v >= 1U << 2)  { v >>= 2;  r += 2; }
	if (v >= 1U << 1)  { r += 1; }
	return r;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2_u32(hi) + 32 : log2_u32((__u32)v);
}

/* The slot of a time in microseconds, for a histogram of nslots. */
static __always_inline __u32 hist_slot_us(__u64 ns, __u32 nslots)
{
	__u32 slot = log2_u64(ns / 1000);

	return slot < nslots ? slot : nslots - 1;
}

#endif /* RTASYNC_BITS_BPF_H */
