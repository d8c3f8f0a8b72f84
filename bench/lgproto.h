/*
 * The devices the load generator simulates: for each protocol, its
 * devices' unique ids, the frames a device sends to log in and to report a
 * position, and a reader for what the server answers. Written from the
 * protocol documents (docs/protocols/), independently of trackd's
 * decoders, so that decoding these frames with the server's own decoders
 * (tests/unit/test_loadgen.c) proves the generator speaks each protocol.
 *
 * Position frames are chosen so that the server answers each one once its
 * record is durable (iw AP01, watch AL with no alarm bit set, gt06 0x16
 * alarm packet with alarm code 0, teltonika AVL packet, jt808 0x0200);
 * gotop defines no reply at all, so its devices run in send-only mode.
 */
#ifndef TRACKD_LGPROTO_H
#define TRACKD_LGPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_FRAME_MAX 512 /* largest frame any builder writes */
#define LG_UID_MAX 24

/* What one reply from the server is. */
enum lg_reply_kind {
    LG_REPLY_OTHER = 0, /* something else: ignored */
    LG_REPLY_LOGIN,     /* the answer to the current login step */
    LG_REPLY_ACK,       /* the acknowledgement of a position frame */
    LG_REPLY_REFUSED,   /* the server refused the login or a frame */
};

typedef struct lg_reply {
    enum lg_reply_kind kind;
    bool keyed;   /* key names the frame answered; otherwise it is the oldest */
    uint32_t key; /* the frame's serial, as the position builder returned it */
} lg_reply;

/* One position: time (UTC ms, whole seconds), degrees, km/h, degrees. */
typedef struct lg_fix {
    int64_t time_ms;
    double lat, lon;
    int speed, course;
} lg_fix;

struct lg_proto;

/* A simulated device's protocol side. */
typedef struct lg_dev {
    const struct lg_proto *proto;
    uint64_t index;        /* global device number: its ids and fixes derive from it */
    bool udp;              /* datagrams: one frame each, one reply each */
    bool logged_in;        /* every login step answered (set by the caller) */
    char uid[LG_UID_MAX];  /* the unique id the server stores */
    uint16_t serial;       /* serial number of the next frame */
    char auth[LG_UID_MAX]; /* jt808: the authentication code 0x8100 gave */
} lg_dev;

typedef struct lg_proto {
    /* trackd's name of the protocol. */
    const char *name;
    /* Position frames are answered (false: send-only). */
    bool acked;
    /* Transports (LG_KEYED_TCP, LG_KEYED_UDP) whose acknowledgements name
     * the frame they answer; over the others they answer the oldest. */
    unsigned keyed;
    /* Writes the unique id of device `index`. */
    void (*uid)(uint64_t index, char *out, size_t cap);
    /* Writes login step `step` (0, 1, ...) to out; returns its length, or 0
     * when the login has no such step (it is complete). */
    size_t (*login)(lg_dev *d, int step, uint8_t *out, size_t cap);
    /* Writes a position frame for f; sets *key to what its acknowledgement
     * will carry (when keyed). Returns the length. */
    size_t (*position)(lg_dev *d, const lg_fix *f, uint8_t *out, size_t cap, uint32_t *key);
    /*
     * Reads the first reply in buf[0..len): returns its length (> 0) with
     * *r filled, 0 when more bytes are needed, or -1 when buf[0] cannot
     * start a reply (the caller drops a byte). May store what the reply
     * tells the device (the jt808 authentication code) in d.
     */
    long (*reply)(lg_dev *d, const uint8_t *buf, size_t len, lg_reply *r);
} lg_proto;

#define LG_KEYED_TCP 1u
#define LG_KEYED_UDP 2u

/* Every protocol, NULL-terminated. */
extern const lg_proto *const lg_protocols[];
/* The protocol called name, or NULL. */
const lg_proto *lg_proto_find(const char *name);

/* Device d's acknowledgements name their frame (on its transport). */
bool lg_keyed(const lg_dev *d);
/* Prepares device `index` of protocol p over TCP or UDP. */
void lg_dev_init(lg_dev *d, const lg_proto *p, uint64_t index, bool udp);
/*
 * The seq-th position (0, 1, ...) of device `index`: time base_s + seq
 * seconds (so each frame of a device has its own time), a place that moves
 * with seq, speed and course that vary.
 */
lg_fix lg_fix_make(uint64_t index, uint64_t seq, int64_t base_s);

/* CRC-16/X-25 (gt06's CRC-ITU) and CRC-16/ARC (teltonika). */
uint16_t lg_crc_x25(const uint8_t *p, size_t n);
uint16_t lg_crc_arc(const uint8_t *p, size_t n);

#endif
