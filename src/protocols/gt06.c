/*
 * gt06: the binary protocol of Concox (Jimi IoT) trackers and the many
 * clones that speak it (GT06/GT06N/GT06E, GT02/GT03, GT800, JM-VL01/VL03,
 * JM-LL01, AT4, X1, CT10, AM01, WeTrack, AZ735 and OEM copies), after the
 * manufacturer's "GPS Tracker Communication Protocol" documents (GT06 V1.8,
 * GT03A/B V1.82, X1 V1.1, AM01 V1.10, JM-VL01 V19, JM-VL03 V1.1.2,
 * CT10/JM-LL01 V2.1.4) summarised with their addresses in
 * docs/protocols/gt06.md.
 *
 * A frame is 0x7878 <len:1> <type> <content> <serial:2> <crc:2> 0x0D0A, or
 * 0x7979 <len:2> ... for long packets; len counts type to crc and the CRC
 * (CRC-ITU, X.25) covers len to serial. The WiFi packets 0x69 (and 0x17
 * without a length) put the number of access points where the length goes
 * and carry neither serial nor CRC; their size follows from the counts.
 *
 * Message types: 0x01 login; 0x13 status/heartbeat and 0x23 heartbeat with
 * voltage; 0x10/0x11 GPS, 0x12/0x22/0x24/0x2D/0x31/0x37 GPS+LBS, 0xA0
 * GPS+4G LBS, 0x1E GPS+neighbour cells, 0x17 GPS+LBS+RFID, 0x34 X1 GPS,
 * 0x32/0x33 AZ735 GPS and alarm, 0x70 modular (TLV) GPS; 0x16/0x26/0x27
 * GPS+LBS+status alarms, 0xA3/0xA4 4G fence alarms, 0x19 LBS+status
 * alarm, 0x95 event; 0x18/0x28/0x2E LBS multi-cell, 0xA1 4G multi-cell,
 * 0x2C and 0xA2 cells+WiFi, 0x69/0xF3 WiFi scans; 0x8A time request; 0x94
 * information transmission (external voltage, status sync, door, ICCID,
 * RFID, serial data); 0x15/0x21/0x81 answers to server commands; 0x1A/0x2A
 * address requests; 0x9B and other documented numbers kept with their bytes.
 * A type number nobody documents is accepted only with a good CRC. Downlink:
 * the 0x80 online command carrying the SMS command text.
 */
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/encode.h"
#include "protocols/registry.h"

#define GT06_MAX_FRAME 8192 /* 0x7979 photo and OBD packets */
#define GT06_GPS_LEN 18     /* date 6, info 1, lat 4, lon 4, speed 1, course 2 */
#define GT06_HEX_MAX 200    /* bytes of unknown content kept as hex */

/* Message types (protocol numbers). */
enum {
    GT06_LOGIN = 0x01,
    GT06_GPS = 0x10,
    GT06_LBS = 0x11,
    GT06_GPS_LBS = 0x12,
    GT06_STATUS = 0x13,
    GT06_STRING = 0x15,
    GT06_ALARM = 0x16,
    GT06_GPS_RFID = 0x17,
    GT06_LBS_EXTEND = 0x18,
    GT06_LBS_STATUS = 0x19,
    GT06_GPS_PHONE = 0x1A,
    GT06_GPS_CELLS = 0x1E,
    GT06_STRING_INFO = 0x21,
    GT06_GPS_LBS_2 = 0x22,
    GT06_HEARTBEAT = 0x23,
    GT06_GPS_LBS_3 = 0x24,
    GT06_ALARM_2 = 0x26,
    GT06_ALARM_FENCES = 0x27,
    GT06_LBS_MULTI = 0x28,
    GT06_ADDRESS_REQUEST = 0x2A,
    GT06_LBS_WIFI = 0x2C,
    GT06_GPS_LBS_4 = 0x2D,
    GT06_LBS_MULTI_2 = 0x2E,
    GT06_GPS_LBS_5 = 0x31,
    GT06_AZ735_GPS = 0x32,
    GT06_AZ735_ALARM = 0x33,
    GT06_X1_GPS = 0x34,
    GT06_GPS_LBS_6 = 0x37,
    GT06_WIFI = 0x69,
    GT06_MODULAR = 0x70,
    GT06_COMMAND_ANSWER = 0x81,
    GT06_TIME_REQUEST = 0x8A,
    GT06_INFO = 0x94,
    GT06_EVENT = 0x95,
    GT06_GPS_4G = 0xA0,
    GT06_LBS_4G = 0xA1,
    GT06_LBS_WIFI_4G = 0xA2,
    GT06_FENCE_4G = 0xA3,
    GT06_FENCES_4G = 0xA4,
    GT06_WIFI_2 = 0xF3,
};

/* What the server answers to a message type. */
enum gt06_reply { R_NONE, R_ECHO, R_TIME };

/* One parsed frame. */
typedef struct gt06_msg {
    bool ext;         /* 0x7979 header */
    bool wifi;        /* count-prefixed WiFi packet: no serial, no CRC */
    unsigned type;    /* protocol number */
    const uint8_t *p; /* content, after the type */
    size_t n;         /* content length */
    unsigned serial;  /* information serial number */
    bool has_serial;  /* false for the WiFi packets */
    unsigned count;   /* WiFi packets: the count in the length byte */
} gt06_msg;

/* ---- CRC-ITU ---------------------------------------------------------- */

/* CRC-16/X-25 (reflected 0x1021, init 0xFFFF, final complement), the
 * "CRC-ITU" of the Concox documents. */
static uint16_t crc_itu(const uint8_t *p, size_t n)
{
    uint16_t fcs = 0xffff;
    while (n--) {
        fcs ^= *p++;
        for (int i = 0; i < 8; i++)
            fcs = (fcs & 1) ? (uint16_t)((fcs >> 1) ^ 0x8408) : (uint16_t)(fcs >> 1);
    }
    return (uint16_t)~fcs;
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)(v & 0x7fffffffffffffffULL);
}

/* ---- framing and detection ------------------------------------------- */

static bool known_type(unsigned t); /* after the handler table */

/* The count-prefixed WiFi packet 0x69 (and 0x17 sent the same way):
 * 7878 <aps> <type> <BCD date 6> <aps x (mac 6, rssi 1)> <cells> <mcc 2>
 * <mnc 1> <cells x (lac 2, ci 2, rssi 1)> 0D0A. Returns its length, 0 when
 * more bytes are needed, -1 when buf is not one. */
static long wifi_length(const uint8_t *buf, size_t len)
{
    if (len < 4)
        return 0;
    if (buf[3] != GT06_WIFI && buf[3] != GT06_GPS_RFID)
        return -1;
    size_t at = 4 + 6 + 7 * (size_t)buf[2];
    if (len < at + 1)
        return 0;
    size_t total = at + 1 + 3 + 5 * (size_t)buf[at] + 2;
    if (len < total)
        return 0;
    return buf[total - 2] == 0x0d && buf[total - 1] == 0x0a ? (long)total : -1;
}

static bool is_start(const uint8_t *p)
{
    return (p[0] == 0x78 && p[1] == 0x78) || (p[0] == 0x79 && p[1] == 0x79);
}

/*
 * Length of the frame at buf (which starts with a start marker): the
 * declared length when the stop bytes are where it says, else the count
 * form of the WiFi packets, else up to the first 0D0A past the declared end
 * (clones that fill the length byte wrongly). 0: need more.
 */
static long frame_at(const uint8_t *buf, size_t len)
{
    size_t hl = buf[0] == 0x78 ? 3 : 4;
    if (len < hl + 1)
        return 0;
    size_t l = hl == 3 ? buf[2] : be16(buf + 2);
    size_t total = hl + l + 2;
    if (total > GT06_MAX_FRAME)
        return TD_ETOOBIG;
    if (hl == 3 && (l < 5 || buf[3] == GT06_WIFI)) {
        long w = wifi_length(buf, len);
        if (w != -1)
            return w;
    }
    if (l >= 5) {
        if (len < total)
            return 0;
        if (buf[total - 2] == 0x0d && buf[total - 1] == 0x0a)
            return (long)total;
        /* A CR without its LF, and the next frame right behind it. */
        if (buf[total - 2] == 0x0d && len > total && is_start(buf + total - 1))
            return (long)(total - 1);
    }
    size_t from = l >= 5 ? total - 2 : hl + 1;
    for (size_t i = from; i + 1 < len; i++)
        if (buf[i] == 0x0d && buf[i + 1] == 0x0a)
            return (long)(i + 2);
    return len >= GT06_MAX_FRAME ? TD_ETOOBIG : 0;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;
    while (s + 1 < len && !is_start(buf + s))
        s++;
    if (s + 1 >= len) {
        /* Keep a last byte that may open a marker. */
        *skip = len && (buf[len - 1] == 0x78 || buf[len - 1] == 0x79) ? len - 1 : len;
        return 0;
    }
    *skip = s;
    return frame_at(buf + s, len - s);
}

static int detect(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return TD_DETECT_MAYBE;
    if (buf[0] != 0x78 && buf[0] != 0x79)
        return TD_DETECT_NO;
    if (len < 2)
        return TD_DETECT_MAYBE;
    if (buf[1] != buf[0])
        return TD_DETECT_NO;
    size_t hl = buf[0] == 0x78 ? 3 : 4;
    if (len < hl + 1)
        return TD_DETECT_MAYBE;
    size_t l = hl == 3 ? buf[2] : be16(buf + 2);
    unsigned type = buf[hl];
    if (hl == 4 && (l < 5 || hl + l + 2 > GT06_MAX_FRAME))
        return TD_DETECT_NO;
    if (known_type(type))
        return TD_DETECT_YES;
    /* An unknown type: only a whole frame with a good CRC and stop bytes. */
    if (l < 5)
        return TD_DETECT_NO;
    size_t total = hl + l + 2;
    if (len < total)
        return TD_DETECT_MAYBE;
    if (buf[total - 2] == 0x0d && buf[total - 1] == 0x0a &&
        crc_itu(buf + 2, total - 6) == be16(buf + total - 4))
        return TD_DETECT_YES;
    return TD_DETECT_NO;
}

/* ---- decoding helpers ------------------------------------------------- */

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "gt06: too many records");
}

static int short_msg(td_decode_ctx *ctx, const gt06_msg *m, const char *what)
{
    return td_ctx_error(ctx, TD_EBADFRAME, "gt06: type 0x%02X too short for its %s (%zu bytes)",
                        m->type, what, m->n);
}

static void raw_hex(td_record *r, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * GT06_HEX_MAX + 1];
    td_hex_encode(p, n < GT06_HEX_MAX ? n : GT06_HEX_MAX, hex, sizeof(hex));
    td_rec_raw_str(r, key, hex, strlen(hex));
}

/* Keeps printable text (others become '?'). */
static void raw_text(td_record *r, const char *key, const uint8_t *p, size_t n)
{
    char buf[TD_ACK_RESULT_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof(buf); i++) {
        if (p[i] == 0)
            break;
        buf[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    }
    td_rec_raw_str(r, key, buf, k);
}

static void raw_type(td_record *r, unsigned type)
{
    td_rec_raw_int(r, "type", type);
}

/* Date and time as six binary bytes (yy mm dd hh mm ss, UTC). */
static bool utc6(const uint8_t *p, int64_t *ms)
{
    return p[0] <= 99 && td_utc_ms(2000 + p[0], p[1], p[2], p[3], p[4], p[5], ms);
}

/* The same as six BCD bytes (the WiFi packets). */
static bool bcd6(const uint8_t *p, int64_t *ms)
{
    int f[6];
    for (int i = 0; i < 6; i++) {
        if ((p[i] >> 4) > 9 || (p[i] & 15) > 9)
            return false;
        f[i] = (p[i] >> 4) * 10 + (p[i] & 15);
    }
    return td_utc_ms(2000 + f[0], f[1], f[2], f[3], f[4], f[5], ms);
}

static void set_time(td_record *r, bool ok, int64_t ms)
{
    if (ok && ms > 946684800000LL) {
        r->time_ms = ms;
        r->has_time = true;
    }
}

/* The record's time from a 6-byte date at p, when it is a real one. */
static void utc6_time(td_record *r, const uint8_t *p)
{
    int64_t ms = 0;
    bool ok = utc6(p, &ms);
    set_time(r, ok, ms);
}

/*
 * Course and status word: bit 13 differential fix, bit 12 positioned, bit
 * 11 west, bit 10 north, bits 9-0 course. A latitude/longitude pair in
 * 1/30000 minute. Fills the fix of r (made a position record).
 */
static int fix(td_decode_ctx *ctx, td_record *r, uint32_t lat, uint32_t lon, int speed, bool has_cs,
               unsigned cs)
{
    double la = lat / 1800000.0, lo = lon / 1800000.0;
    if (la > 90 || lo > 180)
        return td_ctx_error(ctx, TD_EBADFRAME, "gt06: coordinates out of range (%u, %u)", lat, lon);
    r->type = TD_REC_POSITION;
    if (has_cs) {
        r->valid = (cs & 0x1000) != 0;
        if (!(cs & 0x0400) && la != 0)
            la = -la;
        if ((cs & 0x0800) && lo != 0)
            lo = -lo;
        unsigned course = cs & 0x3ff;
        r->course = course <= 360 ? course : 0;
    } else {
        r->valid = true;
    }
    r->latitude = la;
    r->longitude = lo;
    r->speed = speed;
    return 0;
}

/* The 18-byte GPS block (fewer: course and status missing). */
static int gps_block(td_decode_ctx *ctx, td_record *r, const uint8_t *p, size_t n)
{
    int64_t ms = 0;
    if (n < 16)
        return td_ctx_error(ctx, TD_EBADFRAME, "gt06: GPS block of %zu bytes", n);
    bool ok = utc6(p, &ms);
    set_time(r, ok, ms);
    td_rec_set_int(r, TD_ATTR_SATELLITES, p[6] & 15);
    return fix(ctx, r, be32(p + 7), be32(p + 11), p[15], n >= 18, n >= 18 ? be16(p + 16) : 0);
}

/* True when p holds a GPS block whose date and coordinates make sense. */
static bool gps_plausible(const uint8_t *p, size_t n)
{
    int64_t ms = 0;
    return n >= 16 && utc6(p, &ms) && be32(p + 7) / 1800000.0 <= 90 &&
           be32(p + 11) / 1800000.0 <= 180;
}

/*
 * One serving cell: MCC (bit 15 set: MNC takes two bytes), MNC, then LAC
 * and cell id of lac_len/ci_len bytes. mnc2 forces a two-byte MNC. Returns
 * bytes used, or 0 when n is short.
 */
static size_t cell(td_record *r, const uint8_t *p, size_t n, size_t lac_len, size_t ci_len,
                   bool mnc2)
{
    if (n < 2)
        return 0;
    unsigned mcc = be16(p);
    bool two = mnc2 || (mcc & 0x8000);
    size_t need = 2 + (two ? 2 : 1) + lac_len + ci_len;
    if (n < need)
        return 0;
    unsigned mnc = two ? be16(p + 2) : p[2];
    const uint8_t *q = p + (two ? 4 : 3);
    int64_t lac = lac_len == 2 ? be16(q) : be32(q);
    int64_t ci = ci_len == 3 ? be24(q + lac_len) : be64(q + lac_len);
    if ((mcc & 0x7fff) || mnc || lac || ci)
        td_rec_add_cell(r, (int)(mcc & 0x7fff), (int)mnc, lac, ci, false, 0);
    return need;
}

/* The alarm codes of the "alarm and language" byte. */
static void alarm_code(td_record *r, unsigned code)
{
    static const struct {
        uint8_t code;
        int alarm; /* td_alarm, or -1: kept as alarmCode only */
    } map[] = {
        {0x01, TD_ALARM_SOS},           {0x02, TD_ALARM_POWER_CUT},
        {0x03, TD_ALARM_VIBRATION},     {0x04, TD_ALARM_GEOFENCE_ENTER},
        {0x05, TD_ALARM_GEOFENCE_EXIT}, {0x06, TD_ALARM_OVERSPEED},
        {0x09, TD_ALARM_MOVEMENT},      {0x0E, TD_ALARM_LOW_POWER},
        {0x0F, TD_ALARM_LOW_POWER},     {0x13, TD_ALARM_TAMPER},
        {0x15, TD_ALARM_LOW_BATTERY},   {0x18, TD_ALARM_TAMPER},
        {0x19, TD_ALARM_LOW_BATTERY},   {0x23, TD_ALARM_FALL},
        {0x32, TD_ALARM_POWER_CUT},
    };
    if (code == 0)
        return;
    td_rec_raw_int(r, "alarmCode", code);
    if (code == 0xFE || code == 0xFF) {
        td_rec_set_bool(r, TD_ATTR_IGNITION, code == 0xFE);
        return;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].code == code)
            td_rec_alarm(r, (td_alarm)map[i].alarm);
}

/*
 * Terminal information byte: bit 7 oil/power cut, bit 6 GPS positioned,
 * bits 5-3 alarm (100 SOS, 011 low battery, 010 power cut, 001 vibration),
 * bit 2 charging, bit 1 ACC, bit 0 armed.
 */
static void terminal_info(td_record *r, unsigned info, bool alarms)
{
    td_rec_raw_bool(r, "blocked", info & 0x80);
    td_rec_set_bool(r, TD_ATTR_IGNITION, info & 0x02);
    td_rec_set_bool(r, TD_ATTR_CHARGING, info & 0x04);
    td_rec_raw_bool(r, "armed", info & 0x01);
    if (!alarms)
        return;
    switch ((info >> 3) & 7) {
    case 1:
        td_rec_alarm(r, TD_ALARM_VIBRATION);
        break;
    case 2:
        td_rec_alarm(r, TD_ALARM_POWER_CUT);
        break;
    case 3:
        td_rec_alarm(r, TD_ALARM_LOW_BATTERY);
        break;
    case 4:
        td_rec_alarm(r, TD_ALARM_SOS);
        break;
    }
}

/* Voltage level 0-6 as a percentage (6 = full), kept raw too. */
static void voltage_level(td_record *r, unsigned level)
{
    td_rec_raw_int(r, "voltageLevel", level);
    if (level <= 6)
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, level * 100 / 6);
}

/*
 * The status block after the cells of the alarm packets: information,
 * voltage level, GSM signal (0-4), alarm, language (5 bytes); a sixth byte
 * means the voltage is a two-byte battery percentage. Extra bytes (fence
 * number, mileage) are kept raw.
 */
static void status_block(td_record *r, const uint8_t *p, size_t n)
{
    if (n < 1)
        return;
    terminal_info(r, p[0], true);
    if (n >= 6) {
        unsigned pct = be16(p + 1);
        if (pct <= 100)
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, pct);
        td_rec_set_int(r, TD_ATTR_RSSI, p[3]);
        alarm_code(r, p[4]);
        td_rec_raw_int(r, "language", p[5]);
        return;
    }
    if (n >= 2)
        voltage_level(r, p[1]);
    if (n >= 3)
        td_rec_set_int(r, TD_ATTR_RSSI, p[2]);
    if (n >= 4)
        alarm_code(r, p[3]);
    if (n >= 5)
        td_rec_raw_int(r, "language", p[4]);
}

/* ---- message handlers ------------------------------------------------- */

static int m_login(td_decode_ctx *ctx, const gt06_msg *m)
{
    char id[17];
    td_record *r;
    int rc;

    if (m->n < 8)
        return short_msg(ctx, m, "terminal id");
    for (int i = 0; i < 8; i++) {
        unsigned hi = m->p[i] >> 4, lo = m->p[i] & 15;
        if (hi > 9 || lo > 9)
            return td_ctx_error(ctx, TD_EBADFRAME, "gt06: terminal id is not BCD (byte %d: %02X)",
                                i, m->p[i]);
        id[2 * i] = (char)('0' + hi);
        id[2 * i + 1] = (char)('0' + lo);
    }
    id[16] = '\0';
    const char *imei = id[0] == '0' ? id + 1 : id; /* 15-digit IMEI, padded */
    if (td_session_identify(ctx->session, imei, strlen(imei)) != 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "gt06: bad terminal id %s", id);
    if ((rc = add(ctx, TD_REC_LOGIN, &r)))
        return rc;
    if (m->n >= 10)
        td_rec_raw_int(r, "deviceType", be16(m->p + 8));
    if (m->n >= 12) {
        /* Bits 15-4: zone x 100 (hours, minutes), bit 3: west. */
        unsigned tz = be16(m->p + 10);
        int v = (int)(tz >> 4);
        int minutes = (v / 100) * 60 + v % 100;
        td_rec_raw_int(r, "timezone", (tz & 0x08) ? -minutes : minutes);
    }
    return 0;
}

/* 0x13 status / heartbeat; 0x23 heartbeat with a two-byte voltage. */
static int m_status(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_HEARTBEAT, &r);
    if (rc)
        return rc;
    const uint8_t *p = m->p;
    size_t n = m->n;
    if (n == 0)
        return 0;
    terminal_info(r, p[0], true);
    if (m->type == GT06_HEARTBEAT) {
        if (n >= 3)
            td_rec_set_double(r, TD_ATTR_BATTERY, be16(p + 1) / 100.0);
        if (n >= 4)
            td_rec_set_int(r, TD_ATTR_RSSI, p[3]);
        if (n > 4)
            raw_hex(r, "extra", p + 4, n - 4);
        return 0;
    }
    if (n == 5 && (p[1] > 6 || p[2] > 4)) {
        /* Vehicle units: a two-byte external voltage in 1/100 V. */
        td_rec_raw_double(r, "power", be16(p + 1) / 100.0);
        td_rec_set_int(r, TD_ATTR_RSSI, p[3]);
        return 0;
    }
    if (n <= 7) {
        /* Status, then (some units) extra bytes kept raw. */
        status_block(r, p, n < 5 ? n : 5);
        if (n > 5)
            raw_hex(r, "extra", p + 5, n - 5);
        return 0;
    }
    raw_hex(r, "status", p + 1, n - 1);
    return 0;
}

/*
 * The GPS family. `cells`: what follows the GPS block: 0 nothing, 2 one
 * 2G cell, 4 one 4G cell; lbs_len: the cell block starts with its length;
 * status: a status block follows the cell.
 */
typedef struct gps_layout {
    int cells;
    bool lbs_len;
    bool status;
    bool tail; /* ACC, upload mode, re-upload flag, mileage (0x22, 0xA0) */
} gps_layout;

/*
 * What vehicle units append to a GPS+LBS report (no document covers it;
 * read from device frames): four bytes are the mileage in metres; five or
 * more start with the information byte and the external voltage in 1/100
 * V; fewer start with the information byte. The rest is kept raw.
 */
static void vehicle_tail(td_record *r, const uint8_t *t, size_t n)
{
    if (n == 4) {
        td_rec_set_double(r, TD_ATTR_ODOMETER, be32(t));
        return;
    }
    terminal_info(r, t[0], false);
    if (n >= 5) {
        td_rec_raw_double(r, "power", be16(t + 1) / 100.0);
        td_rec_set_int(r, TD_ATTR_RSSI, t[3]);
        raw_hex(r, "extra", t + 4, n - 4);
    } else if (n > 1) {
        raw_hex(r, "extra", t + 1, n - 1);
    }
}

static int gps_message(td_decode_ctx *ctx, const gt06_msg *m, const uint8_t *p, size_t n,
                       gps_layout lay)
{
    td_record *r;
    int rc = add(ctx, TD_REC_POSITION, &r);
    if (rc)
        return rc;
    if (gps_block(ctx, r, p, n)) {
        /* Not a fix this layout can read (a clone's variant): keep the
         * bytes rather than lose the frame. */
        ctx->err[0] = '\0';
        r->type = TD_REC_STATUS;
        raw_hex(r, "data", p, n);
        raw_type(r, m->type);
        return 0;
    }
    size_t at = n < GT06_GPS_LEN ? n : GT06_GPS_LEN;
    if (lay.cells && at < n) {
        size_t lbs = n - at, used;
        const uint8_t *c = p + at;
        bool sized = false; /* the length byte is right */
        if (lay.lbs_len) {
            lbs = c[0] > 0 ? c[0] - 1u : 0;
            c++;
            at++;
            sized = lbs <= n - at;
            if (!sized)
                lbs = n - at; /* a length byte that lies: read the cell by its size */
        }
        if (lay.cells == 2) {
            used = cell(r, c, lbs, 2, 3, sized && lbs == 9);
        } else {
            used = cell(r, c, lbs, 4, 8, sized && lbs == 16);
        }
        at += sized ? lbs : used;
    }
    if (lay.status && at < n) {
        size_t sn = n - at;
        if (m->type == GT06_ALARM_FENCES || m->type == GT06_FENCES_4G) {
            status_block(r, p + at, sn < 5 ? sn : 5);
            if (sn >= 6)
                td_rec_raw_int(r, "fence", p[at + 5]);
            if (sn > 6)
                raw_hex(r, "extra", p + at + 6, sn - 6);
        } else {
            status_block(r, p + at, sn);
            if (sn > 6)
                raw_hex(r, "extra", p + at + 6, sn - 6);
        }
        at = n;
    }
    if (lay.tail && at < n) {
        const uint8_t *t = p + at;
        size_t tn = n - at;
        td_rec_set_bool(r, TD_ATTR_IGNITION, t[0] != 0);
        if (tn >= 2)
            td_rec_raw_int(r, "uploadMode", t[1]);
        if (tn >= 3)
            td_rec_raw_bool(r, "archive", t[2] != 0);
        if (tn >= 7)
            td_rec_set_double(r, TD_ATTR_ODOMETER, be32(t + 3));
        if (tn > 7)
            raw_hex(r, "extra", t + 7, tn - 7);
        at = n;
    }
    if (at < n && lay.cells == 2 && !lay.lbs_len && !lay.tail)
        vehicle_tail(r, p + at, n - at);
    else if (at < n)
        raw_hex(r, "extra", p + at, n - at);
    raw_type(r, m->type);
    return 0;
}

static int m_gps(td_decode_ctx *ctx, const gt06_msg *m)
{
    gps_layout lay = {0, false, false, false};
    switch (m->type) {
    case GT06_GPS_LBS:
    case GT06_GPS_LBS_3:
    case GT06_GPS_LBS_4:
    case GT06_GPS_LBS_5:
    case GT06_GPS_LBS_6:
    case GT06_GPS_RFID:
        lay.cells = 2;
        break;
    case GT06_GPS_LBS_2:
        lay.cells = 2;
        lay.tail = true;
        break;
    case GT06_GPS_4G:
        lay.cells = 4;
        lay.tail = true;
        break;
    case GT06_ALARM:
    case GT06_ALARM_2:
    case GT06_ALARM_FENCES:
        lay.cells = 2;
        lay.lbs_len = true;
        lay.status = true;
        break;
    case GT06_FENCE_4G:
    case GT06_FENCES_4G:
        lay.cells = 4;
        lay.lbs_len = true;
        lay.status = true;
        break;
    }
    if (m->n == 0) {
        /* An empty report (seen from GT06 clones after a reconnect). */
        td_record *r;
        int rc = add(ctx, TD_REC_OTHER, &r);
        if (!rc)
            raw_type(r, m->type);
        return rc;
    }
    if (m->n < 16) {
        /* Too short for a fix: some units send their status under these
         * numbers (information byte first). */
        td_record *r;
        int rc = add(ctx, TD_REC_STATUS, &r);
        if (rc)
            return rc;
        terminal_info(r, m->p[0], false);
        if (m->n > 1)
            raw_hex(r, "data", m->p + 1, m->n - 1);
        raw_type(r, m->type);
        return 0;
    }
    return gps_message(ctx, m, m->p, m->n, lay);
}

/* Cells of the LBS packets: <mcc> <mnc> then count x (lac, ci, rssi). */
static size_t cell_list(td_record *r, const uint8_t *p, size_t n, size_t lac_len, size_t ci_len,
                        int count)
{
    if (n < 3)
        return 0;
    unsigned mcc = be16(p);
    bool two = (mcc & 0x8000) != 0;
    unsigned mnc = two ? be16(p + 2) : p[2];
    size_t at = two ? 4 : 3;
    size_t each = lac_len + ci_len + 1;
    for (int i = 0; i < count && at + each <= n; i++, at += each) {
        int64_t lac = lac_len == 2 ? be16(p + at) : be32(p + at);
        int64_t ci = ci_len == 3 ? be24(p + at + lac_len) : be64(p + at + lac_len);
        int rssi = p[at + lac_len + ci_len];
        if (lac || ci)
            td_rec_add_cell(r, (int)(mcc & 0x7fff), (int)mnc, lac, ci, true, rssi);
    }
    return at;
}

/* 0x11 LBS (GT03: date, one cell) or, on some clones, a GPS report. */
static int m_lbs(td_decode_ctx *ctx, const gt06_msg *m)
{
    if (gps_plausible(m->p, m->n) && m->n >= 16) {
        gps_layout lay = {0, false, false, false};
        return gps_message(ctx, m, m->p, m->n, lay);
    }
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    if (m->n < 14)
        return short_msg(ctx, m, "cell");
    utc6_time(r, m->p);
    cell(r, m->p + 6, m->n - 6, 2, 3, false);
    raw_type(r, m->type);
    return 0;
}

/* 0x18 / 0x28 / 0x2E (2G) and 0xA1 (4G): date, serving and six neighbour
 * cells, timing advance, language. 0x1E: the same after a GPS block. */
static int m_cells(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    const uint8_t *p = m->p;
    size_t n = m->n;
    bool g4 = m->type == GT06_LBS_4G;

    if (rc)
        return rc;
    if (m->type == GT06_GPS_CELLS) {
        if (gps_block(ctx, r, p, n)) {
            ctx->err[0] = '\0';
            r->type = TD_REC_STATUS;
            raw_hex(r, "data", p, n);
            raw_type(r, m->type);
            return 0;
        }
        p += GT06_GPS_LEN;
        n -= n < GT06_GPS_LEN ? n : GT06_GPS_LEN;
    } else {
        int64_t ms;
        if (n < 6)
            return short_msg(ctx, m, "date");
        bool ok = utc6(p, &ms);
        set_time(r, ok, ms);
        p += 6;
        n -= 6;
    }
    size_t at = cell_list(r, p, n, g4 ? 4 : 2, g4 ? 8 : 3, 7);
    if (at < n)
        td_rec_raw_int(r, "timingAdvance", p[at]);
    raw_type(r, m->type);
    return 0;
}

/* WiFi list: count x (mac 6, rssi 1). Returns bytes used. */
static size_t wifi_list(td_record *r, const uint8_t *p, size_t n, unsigned count)
{
    size_t at = 0;
    for (unsigned i = 0; i < count && at + 7 <= n; i++, at += 7) {
        char mac[13];
        td_hex_encode(p + at, 6, mac, sizeof(mac));
        td_rec_add_wifi(r, mac, 12, -(int)p[at + 6]);
    }
    return at;
}

/* 0x2C (2G) and 0xA2 (4G): date, seven cells, timing advance, WiFi list. Some
 * 0xA2 senders put a GPS report there instead (told apart by the MCC). */
static int m_lbs_wifi(td_decode_ctx *ctx, const gt06_msg *m)
{
    bool g4 = m->type == GT06_LBS_WIFI_4G;
    const uint8_t *p = m->p;
    size_t n = m->n;

    if (n < 9)
        return short_msg(ctx, m, "cells");
    if (g4 && (be16(p + 6) & 0x7fff) > 999 && gps_plausible(p, n)) {
        gps_layout lay = {4, false, false, false};
        return gps_message(ctx, m, p, n, lay);
    }
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    utc6_time(r, p);
    size_t at = 6 + cell_list(r, p + 6, n - 6, g4 ? 4 : 2, g4 ? 8 : 3, 7);
    if (at < n)
        td_rec_raw_int(r, "timingAdvance", p[at++]);
    if (at < n) {
        unsigned count = p[at++];
        at += wifi_list(r, p + at, n - at, count);
    }
    raw_type(r, m->type);
    return 0;
}

/* The count-prefixed WiFi packet (see wifi_length). */
static int m_wifi(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    const uint8_t *p = m->p;
    size_t n = m->n;
    int64_t ms = 0;
    if (n < 6)
        return short_msg(ctx, m, "date");
    bool ok = bcd6(p, &ms);
    set_time(r, ok, ms);
    size_t at = 6 + wifi_list(r, p + 6, n - 6, m->count);
    if (at + 4 <= n) {
        unsigned cells = p[at];
        unsigned mcc = be16(p + at + 1), mnc = p[at + 3];
        at += 4;
        for (unsigned i = 0; i < cells && at + 5 <= n; i++, at += 5)
            td_rec_add_cell(r, (int)mcc, (int)mnc, be16(p + at), be16(p + at + 2), true, p[at + 4]);
    }
    raw_type(r, m->type);
    return 0;
}

/* 0xF3: date, count x (2 bytes, mac 6). */
static int m_wifi_2(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    if (m->n < 7)
        return short_msg(ctx, m, "WiFi list");
    utc6_time(r, m->p);
    unsigned count = m->p[6];
    for (size_t i = 0, at = 7; i < count && at + 8 <= m->n; i++, at += 8) {
        char mac[13];
        td_hex_encode(m->p + at + 2, 6, mac, sizeof(mac));
        td_rec_add_wifi(r, mac, 12, 0);
    }
    raw_type(r, m->type);
    return 0;
}

/* 0x19: one cell and the status block. */
static int m_lbs_status(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    size_t used = cell(r, m->p, m->n, 2, 3, false);
    if (!used)
        return short_msg(ctx, m, "cell");
    status_block(r, m->p + used, m->n - used);
    raw_type(r, m->type);
    return 0;
}

/* 0x34 (X1): event and flags (4), then a GPS block and cells. */
static int m_x1(td_decode_ctx *ctx, const gt06_msg *m)
{
    if (m->n < 4 + 16)
        return short_msg(ctx, m, "GPS block");
    gps_layout lay = {0, false, false, false};
    int rc = gps_message(ctx, m, m->p + 4, m->n - 4, lay);
    if (!rc)
        td_rec_raw_int(&ctx->rec[ctx->nrec - 1], "event", m->p[0]);
    return rc;
}

/* 0x32 / 0x33 (AZ735): date, GPS length and GPS data, then cells. The 0x7878
 * form of 0x32 is an ordinary GPS+LBS report. */
static int m_az735(td_decode_ctx *ctx, const gt06_msg *m)
{
    if (!m->ext) {
        /* GPS, sized cell block, status; the last two bytes are the
         * altitude in metres (read from device frames, no document). */
        gps_layout lay = {2, true, false, false};
        if (m->n < GT06_GPS_LEN + 3)
            return short_msg(ctx, m, "GPS block and cell");
        int rc = gps_message(ctx, m, m->p, m->n - 2, lay);
        if (!rc)
            ctx->rec[ctx->nrec - 1].altitude = (int16_t)be16(m->p + m->n - 2);
        return rc;
    }
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    if (m->n < 7)
        return short_msg(ctx, m, "date");
    utc6_time(r, m->p);
    size_t gl = m->p[6], at = 7;
    if (gl > m->n - at)
        return short_msg(ctx, m, "GPS data");
    if (gl >= 12) {
        const uint8_t *g = m->p + at;
        td_rec_set_int(r, TD_ATTR_SATELLITES, g[0] & 15);
        if (fix(ctx, r, be32(g + 1), be32(g + 5), g[9], true, be16(g + 10)))
            ctx->err[0] = '\0'; /* no readable fix: a status record */
    }
    at += gl;
    if (at < m->n) {
        size_t ll = m->p[at];
        if (ll > 1 && at + ll <= m->n)
            cell(r, m->p + at + 1, ll - 1, 2, 3, false);
        at += ll ? ll : 1;
    }
    if (at < m->n)
        raw_hex(r, "extra", m->p + at, m->n - at);
    raw_type(r, m->type);
    if (m->type == GT06_AZ735_ALARM && r->type != TD_REC_POSITION)
        r->type = TD_REC_STATUS;
    return 0;
}

/* 0x70: modules of <id:2> <len:2> <value>. 0x33 is the GPS module: time 4,
 * satellites 1, altitude 2, lat 4, lon 4, speed 1, course and status 2. */
static int m_modular(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    size_t at = 0;
    while (at + 4 <= m->n) {
        unsigned id = be16(m->p + at), len = be16(m->p + at + 2);
        const uint8_t *v = m->p + at + 4;
        if (len > m->n - at - 4)
            return td_ctx_error(ctx, TD_EBADFRAME, "gt06: module 0x%04X of %u bytes in %zu", id,
                                len, m->n - at - 4);
        if (id == 0x33 && len >= 18) {
            uint32_t t = be32(v);
            if (t > 946684800u && t < 4102444800u) {
                r->time_ms = (int64_t)t * 1000;
                r->has_time = true;
            }
            td_rec_set_int(r, TD_ATTR_SATELLITES, v[4]);
            r->altitude = (int16_t)be16(v + 5);
            if (fix(ctx, r, be32(v + 7), be32(v + 11), v[15], true, be16(v + 16)))
                ctx->err[0] = '\0'; /* no readable fix: a status record */
        } else if (id == 0x11 && len >= 8) {
            cell(r, v, len, 2, 3, len >= 10 && !(be16(v) & 0x8000));
        } else if (id == 0x01 && len == 8) {
            char hex[17];
            td_hex_encode(v, 8, hex, sizeof(hex));
            td_rec_raw_str(r, "imei", hex[0] == '0' ? hex + 1 : hex, hex[0] == '0' ? 15 : 16);
        } else if (id == 0x03 && len == 10) {
            char hex[21];
            td_hex_encode(v, 10, hex, sizeof(hex));
            td_rec_raw_str(r, "iccid", hex, 20);
        }
        at += 4 + len;
    }
    raw_type(r, m->type);
    return 0;
}

/* 0x8A: a time request, answered with the server's UTC time. */
static int m_time(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_OTHER, &r);
    if (!rc)
        raw_type(r, m->type);
    return rc;
}

/* 0x94 information transmission: a sub-type and its data. */
static int m_info(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    if (m->n < 1)
        return short_msg(ctx, m, "information type");
    unsigned sub = m->p[0];
    const uint8_t *d = m->p + 1;
    size_t n = m->n - 1;
    td_rec_raw_int(r, "infoType", sub);
    switch (sub) {
    case 0x00: /* external voltage, 1/100 V */
        if (n >= 2)
            td_rec_raw_double(r, "power", be16(d) / 100.0);
        break;
    case 0x04: /* status synchronisation, ASCII "ALM1=..;STA1=..;..." */
    case 0x0D: /* serial peripheral text */
        raw_text(r, "result", d, n);
        break;
    case 0x05: /* door */
        if (n >= 1)
            td_rec_raw_bool(r, "door", d[0] & 1);
        break;
    case 0x0A: /* IMEI 8, IMSI 8, ICCID 10 (BCD) */
        if (n >= 26) {
            char hex[21];
            td_hex_encode(d + 16, 10, hex, sizeof(hex));
            td_rec_raw_str(r, "iccid", hex, 20);
        } else {
            raw_hex(r, "data", d, n);
        }
        break;
    default:
        raw_hex(r, "data", d, n);
        break;
    }
    return 0;
}

/* True when text holds word, in any case. */
static bool has_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *t = text; *t; t++) {
        size_t i = 0;
        while (i < wl && t[i] && (t[i] | 0x20) == word[i])
            i++;
        if (i == wl)
            return true;
    }
    return false;
}

/* 0x15 / 0x21 / 0x81: the device answers a server command (0x80). 0x15 and
 * 0x81: length, server flag 4, text, [language 2]; 0x21: server flag 4,
 * encoding (1 ASCII, 2 UTF-16BE), text. */
static int m_answer(td_decode_ctx *ctx, const gt06_msg *m)
{
    const uint8_t *t;
    size_t tn;
    bool utf16 = false;
    char text[TD_ACK_RESULT_MAX];
    size_t k = 0;

    if (m->type == GT06_STRING_INFO) {
        if (m->n < 5)
            return short_msg(ctx, m, "server flag");
        utf16 = m->p[4] == 2;
        t = m->p + 5;
        tn = m->n - 5;
    } else {
        if (m->n < 5)
            return short_msg(ctx, m, "server flag");
        size_t l = m->p[0];
        t = m->p + 5;
        tn = l >= 4 && l - 4 <= m->n - 5 ? l - 4 : m->n - 5;
    }
    for (size_t i = 0; i < tn && k + 1 < sizeof(text); i += utf16 ? 2 : 1) {
        unsigned c = utf16 ? (i + 1 < tn ? be16(t + i) : 0) : t[i];
        if (c == 0)
            continue;
        text[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    text[k] = '\0';

    /* "Current position!Lat:N54.73,Lon:E25.27,Course:..,Speed:..,DateTime:.." */
    const char *lat = strstr(text, "Lat:"), *lon = strstr(text, "Lon:");
    if (lat && lon && (lat[4] == 'N' || lat[4] == 'S') && (lon[4] == 'E' || lon[4] == 'W')) {
        double la, lo;
        td_span ls = {lat + 5, strcspn(lat + 5, ",")}, os = {lon + 5, strcspn(lon + 5, ",")};
        if (td_parse_double(ls, &la) && td_parse_double(os, &lo) && la <= 90 && lo <= 180) {
            td_record *r;
            int rc = add(ctx, TD_REC_POSITION, &r);
            if (rc)
                return rc;
            r->valid = true;
            r->latitude = lat[4] == 'S' ? -la : la;
            r->longitude = lon[4] == 'W' ? -lo : lo;
            const char *c = strstr(text, "Course:"), *s = strstr(text, "Speed:");
            double v;
            if (c && td_parse_double((td_span){c + 7, strcspn(c + 7, ",")}, &v) && v >= 0 &&
                v <= 360)
                r->course = v;
            if (s && td_parse_double((td_span){s + 6, strcspn(s + 6, ",")}, &v) && v >= 0 &&
                v < 2000)
                r->speed = v;
            const char *d = strstr(text, "DateTime:");
            int f[6];
            if (d && strlen(d) >= 9 + 19 && td_parse_fixed(d + 9, 4, &f[0]) &&
                td_parse_fixed(d + 14, 2, &f[1]) && td_parse_fixed(d + 17, 2, &f[2])) {
                const char *tm = d + 19;
                while (*tm == ' ')
                    tm++;
                int64_t ms;
                if (strlen(tm) >= 8 && td_parse_fixed(tm, 2, &f[3]) &&
                    td_parse_fixed(tm + 3, 2, &f[4]) && td_parse_fixed(tm + 6, 2, &f[5]) &&
                    td_utc_ms(f[0], f[1], f[2], f[3], f[4], f[5], &ms))
                    set_time(r, true, ms);
            }
            td_rec_raw_str(r, "result", text, k);
        }
    }
    td_record *a;
    int rc = add(ctx, TD_REC_ACK, &a);
    if (rc)
        return rc;
    td_rec_raw_str(a, "result", text, k);
    /* The server flag comes back as it was sent: it names the command. */
    uint32_t flag = be32(m->type == GT06_STRING_INFO ? m->p : m->p + 1);
    if (flag)
        snprintf(ctx->ack, sizeof(ctx->ack), "%08X", (unsigned)flag);
    else
        snprintf(ctx->ack, sizeof(ctx->ack), "%s", TD_ACK_ANY);
    ctx->ack_failed = has_word(text, "error") || has_word(text, "fail");
    snprintf(ctx->ack_result, sizeof(ctx->ack_result), "%s", text);
    return 0;
}

/* 0x1A / 0x2A: the device asks for the address of its fix (to text it to a
 * phone). No position is stored from it; the number is kept. */
static int m_address(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_OTHER, &r);
    if (rc)
        return rc;
    if (m->n < GT06_GPS_LEN)
        return short_msg(ctx, m, "GPS block");
    utc6_time(r, m->p);
    if (m->n >= GT06_GPS_LEN + 21)
        raw_text(r, "phone", m->p + GT06_GPS_LEN, 21);
    if (m->n >= GT06_GPS_LEN + 22)
        alarm_code(r, m->p[GT06_GPS_LEN + 21]);
    raw_type(r, m->type);
    return 0;
}

/* 0x95: an event with a date (alarm kinds of camera units). */
static int m_event(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    if (m->n < 1)
        return short_msg(ctx, m, "event");
    td_rec_raw_int(r, "event", m->p[0]);
    int64_t ms = 0;
    if (m->n >= 7 && utc6(m->p + 1, &ms))
        set_time(r, true, ms);
    if (m->n > 7)
        raw_hex(r, "data", m->p + 7, m->n - 7);
    raw_type(r, m->type);
    return 0;
}

/* Everything else: kept with its bytes. */
static int m_other(td_decode_ctx *ctx, const gt06_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_OTHER, &r);
    if (rc)
        return rc;
    raw_type(r, m->type);
    if (m->n)
        raw_hex(r, "data", m->p, m->n);
    return 0;
}

typedef struct gt06_handler {
    uint8_t type;
    int (*fn)(td_decode_ctx *ctx, const gt06_msg *m);
    enum gt06_reply reply;
} gt06_handler;

static const gt06_handler handlers[] = {
    {GT06_LOGIN, m_login, R_ECHO},
    {GT06_STATUS, m_status, R_ECHO},
    {GT06_HEARTBEAT, m_status, R_ECHO},
    {GT06_GPS, m_gps, R_NONE},
    {GT06_LBS, m_lbs, R_NONE},
    {GT06_GPS_LBS, m_gps, R_NONE},
    {GT06_GPS_LBS_2, m_gps, R_NONE},
    {GT06_GPS_LBS_3, m_gps, R_NONE},
    {GT06_GPS_LBS_4, m_gps, R_NONE},
    {GT06_GPS_LBS_5, m_gps, R_NONE},
    {GT06_GPS_LBS_6, m_gps, R_NONE},
    {GT06_GPS_RFID, m_gps, R_NONE},
    {GT06_GPS_4G, m_gps, R_NONE},
    {GT06_ALARM, m_gps, R_ECHO},
    {GT06_ALARM_2, m_gps, R_ECHO},
    {GT06_ALARM_FENCES, m_gps, R_ECHO},
    {GT06_FENCE_4G, m_gps, R_ECHO},
    {GT06_FENCES_4G, m_gps, R_ECHO},
    {GT06_LBS_STATUS, m_lbs_status, R_ECHO},
    {GT06_GPS_CELLS, m_cells, R_NONE},
    {GT06_LBS_EXTEND, m_cells, R_NONE},
    {GT06_LBS_MULTI, m_cells, R_NONE},
    {GT06_LBS_MULTI_2, m_cells, R_NONE},
    {GT06_LBS_4G, m_cells, R_NONE},
    {GT06_LBS_WIFI, m_lbs_wifi, R_NONE},
    {GT06_LBS_WIFI_4G, m_lbs_wifi, R_NONE},
    {GT06_WIFI_2, m_wifi_2, R_NONE},
    {GT06_X1_GPS, m_x1, R_NONE},
    {GT06_AZ735_GPS, m_az735, R_NONE},
    {GT06_AZ735_ALARM, m_az735, R_ECHO},
    {GT06_MODULAR, m_modular, R_NONE},
    {GT06_TIME_REQUEST, m_time, R_TIME},
    {GT06_INFO, m_info, R_NONE},
    {GT06_STRING, m_answer, R_NONE},
    {GT06_STRING_INFO, m_answer, R_NONE},
    {GT06_COMMAND_ANSWER, m_answer, R_NONE},
    {GT06_GPS_PHONE, m_address, R_NONE},
    {GT06_ADDRESS_REQUEST, m_address, R_NONE},
    {GT06_EVENT, m_event, R_ECHO},
};

/*
 * Types that documents or devices use and trackd keeps as "other" records
 * with their bytes: satellites (0x14), time sync (0x1F), battery and
 * multimedia (0x20, 0x40), X1 photo information and data (0x35, 0x36),
 * driver card (0x61), DTC and PID (0x65, 0x66), OBD (0x8C), file transfer
 * (0x8D), transparent serial data (0x9B), LBS alarm and address packets
 * (0xA5-0xA9), peripheral and status packets (0xF1, 0xF2).
 */
static const uint8_t kept_raw[] = {0x08, 0x14, 0x1F, 0x20, 0x35, 0x36, 0x40, 0x57,
                                   0x61, 0x65, 0x66, 0x8C, 0x8D, 0x9B, 0x9C, 0xA5,
                                   0xA6, 0xA7, 0xA8, 0xA9, 0xF1, 0xF2};

/* Types a device sends: detection says yes on these without the whole
 * frame, and decode() accepts them whatever their CRC. */
static bool known_type(unsigned t)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].type == t)
            return true;
    return memchr(kept_raw, (int)t, sizeof(kept_raw)) != NULL || t == GT06_WIFI;
}

/* Appends a reply packet 7878 <len> <type> <body> <serial> <crc> 0D0A. */
static int reply(td_decode_ctx *ctx, unsigned type, const uint8_t *body, size_t n, unsigned serial)
{
    uint8_t b[32];
    if (n > sizeof(b) - 10)
        return TD_ETOOBIG;
    b[0] = b[1] = 0x78;
    b[2] = (uint8_t)(n + 5);
    b[3] = (uint8_t)type;
    if (n)
        memcpy(b + 4, body, n);
    b[4 + n] = (uint8_t)(serial >> 8);
    b[5 + n] = (uint8_t)serial;
    uint16_t crc = crc_itu(b + 2, n + 4);
    b[6 + n] = (uint8_t)(crc >> 8);
    b[7 + n] = (uint8_t)crc;
    b[8 + n] = 0x0d;
    b[9 + n] = 0x0a;
    return td_ctx_reply(ctx, b, n + 10);
}

/*
 * Splits a frame into a gt06_msg. Frames whose length byte disagrees with
 * where they end (some clones) are read up to their stop bytes. A CRC that
 * does not match is accepted for known types (clones that compute it over
 * other bytes; TCP and UDP already guard the bytes) and refused otherwise.
 */
static int parse(td_decode_ctx *ctx, const uint8_t *f, size_t len, gt06_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (len < 2 || !is_start(f))
        return td_ctx_error(ctx, TD_EBADFRAME, "gt06: frame does not start with 7878 or 7979");
    m->ext = f[0] == 0x79;
    size_t hl = m->ext ? 4 : 3;
    if (len < hl + 1)
        return td_ctx_error(ctx, TD_EBADFRAME, "gt06: frame of %zu bytes has no type", len);
    size_t l = m->ext ? be16(f + 2) : f[2];
    m->type = f[hl];
    if (!m->ext && (l < 5 || m->type == GT06_WIFI)) {
        long w = wifi_length(f, len);
        if (w > 0 && (size_t)w == len) {
            m->wifi = true;
            m->count = f[2];
            m->p = f + 4;
            m->n = len - 6;
            return 0;
        }
    }
    size_t total = hl + l; /* through the CRC, without the stop bytes */
    size_t end;            /* where serial and CRC end */
    if (l >= 5 && len >= total &&
        (len == total || (len == total + 1 && f[total] == 0x0d) ||
         (len == total + 2 && f[total] == 0x0d && f[total + 1] == 0x0a))) {
        end = total;
    } else if (len >= hl + 1 + 4 + 2 && f[len - 2] == 0x0d && f[len - 1] == 0x0a) {
        end = len - 2; /* length byte disagrees: trust the stop bytes */
    } else {
        return td_ctx_error(ctx, TD_EBADFRAME,
                            "gt06: frame of %zu bytes does not match its length %zu", len, l);
    }
    m->p = f + hl + 1;
    m->n = end - 4 - (hl + 1);
    m->serial = be16(f + end - 4);
    m->has_serial = true;
    uint16_t want = be16(f + end - 2), got = crc_itu(f + 2, end - 2 - 2);
    if (want != got && !known_type(m->type))
        return td_ctx_error(ctx, TD_ECHECKSUM, "gt06: bad CRC %04X (computed %04X) on type 0x%02X",
                            want, got, m->type);
    return 0;
}

static int decode(td_decode_ctx *ctx, const uint8_t *f, size_t len)
{
    gt06_msg m;
    int rc = parse(ctx, f, len, &m);
    if (rc)
        return rc;

    const gt06_handler *h = NULL;
    for (size_t i = 0; !m.wifi && i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].type == m.type)
            h = &handlers[i];
    rc = m.wifi ? m_wifi(ctx, &m) : h ? h->fn(ctx, &m) : m_other(ctx, &m);
    if (rc) {
        ctx->nrec = 0;
        return rc;
    }
    if (!h || !m.has_serial)
        return 0;
    if (h->reply == R_ECHO)
        return reply(ctx, m.type, NULL, 0, m.serial);
    if (h->reply == R_TIME) {
        int y, mo, d, hh, mi, s;
        td_utc_fields(ctx->now_ms, &y, &mo, &d, &hh, &mi, &s);
        uint8_t t[6] = {(uint8_t)(y % 100), (uint8_t)mo, (uint8_t)d,
                        (uint8_t)hh,        (uint8_t)mi, (uint8_t)s};
        return reply(ctx, m.type, t, sizeof(t), m.serial);
    }
    return 0;
}

/* ---- downlink commands ------------------------------------------------ */

/*
 * Commands go in the 0x80 "online command" packet as the text of the
 * device's SMS command: <length> <server flag 4> <ASCII command>, length =
 * 4 + command bytes. The device answers with 0x15/0x21 carrying the same
 * server flag, which is the ack key.
 */
static const td_cmd_type gt06_commands[] = {
    {"positionSingle", "Locate now (WHERE#)", {{NULL}}},
    {"positionPeriodic",
     "Reporting interval (TIMER)",
     {{"frequency", TD_PARAM_INT, false, 5, 18000, 0, "Interval (s, 5-18000)"}}},
    {"engineStop", "Cut oil / power (DYD)", {{NULL}}},
    {"engineResume", "Restore oil / power (HFYD)", {{NULL}}},
    {"rebootDevice", "Reboot (RESET#)", {{NULL}}},
    {"setTimezone",
     "Time zone (GMT)",
     {{"timezone", TD_PARAM_INT, false, -720, 840, 0, "Offset from UTC (minutes, steps of 15)"}}},
    {"custom",
     "Custom command",
     {{"data", TD_PARAM_TEXT, true, 1, 200, 0, "SMS command text, e.g. STATUS#"},
      {"hex", TD_PARAM_HEX, true, 1, 200, 0, "Command bytes in hex, sent as the command text"}}},
    {NULL},
};

#define GT06_CMD_MAX 200 /* command text bytes */

/* The command text of cmd into e (a staging buffer). */
static int command_text(td_enc *e)
{
    const char *type = e->cmd->def->type;

    if (strcmp(type, "positionSingle") == 0) {
        td_enc_putf(e, "WHERE#");
    } else if (strcmp(type, "positionPeriodic") == 0) {
        td_enc_putf(e, "TIMER,%ld#", td_enc_arg(e, "frequency")->num);
    } else if (strcmp(type, "engineStop") == 0) {
        td_enc_putf(e, "DYD,000000#");
    } else if (strcmp(type, "engineResume") == 0) {
        td_enc_putf(e, "HFYD,000000#");
    } else if (strcmp(type, "rebootDevice") == 0) {
        td_enc_putf(e, "RESET#");
    } else if (strcmp(type, "setTimezone") == 0) {
        long tz = td_enc_arg(e, "timezone")->num, a = tz < 0 ? -tz : tz;
        if (a % 15)
            return td_enc_fail(e, TD_EINVAL,
                               "gt06: the time zone must be a multiple of 15 minutes (%ld is not)",
                               tz);
        td_enc_putf(e, "GMT,%c,%ld,%ld#", tz < 0 ? 'W' : 'E', a / 60, a % 60);
    } else if (strcmp(type, "custom") == 0) {
        return td_enc_custom(e, NULL);
    } else {
        return td_enc_fail(e, TD_EUNSUPPORTED, "gt06: no command '%s'", type);
    }
    return 0;
}

static int encode(const td_session *s, const td_command *cmd, uint8_t *out, size_t cap, size_t *len,
                  char ack[TD_ACK_MAX], char *err, size_t errcap)
{
    uint8_t text[GT06_CMD_MAX + 1], pkt[GT06_CMD_MAX + 32];
    td_enc t = {.proto = "gt06",
                .cmd = cmd,
                .out = text,
                .cap = GT06_CMD_MAX,
                .err = err,
                .errcap = errcap};
    td_enc e = {.proto = "gt06", .cmd = cmd, .out = out, .cap = cap, .err = err, .errcap = errcap};
    uint32_t flag = (uint32_t)cmd->id;
    unsigned serial = (unsigned)(cmd->id & 0xffff);
    size_t n = 0;

    (void)s; /* the packet names no device */
    *len = 0;
    ack[0] = '\0';
    int rc = command_text(&t);
    if (rc < 0)
        return rc;
    if (t.over)
        return td_enc_fail(&e, TD_EINVAL, "gt06: a command text is at most %d bytes", GT06_CMD_MAX);
    bool ext = 1 + 1 + 4 + t.n + 4 > 255;
    size_t l = 1 + 1 + 4 + t.n + 4;
    pkt[n++] = ext ? 0x79 : 0x78;
    pkt[n++] = ext ? 0x79 : 0x78;
    if (ext)
        pkt[n++] = (uint8_t)(l >> 8);
    pkt[n++] = (uint8_t)l;
    pkt[n++] = 0x80;
    pkt[n++] = (uint8_t)(4 + t.n);
    for (int i = 3; i >= 0; i--)
        pkt[n++] = (uint8_t)(flag >> (8 * i));
    memcpy(pkt + n, text, t.n);
    n += t.n;
    pkt[n++] = (uint8_t)(serial >> 8);
    pkt[n++] = (uint8_t)serial;
    uint16_t crc = crc_itu(pkt + 2, n - 2);
    pkt[n++] = (uint8_t)(crc >> 8);
    pkt[n++] = (uint8_t)crc;
    pkt[n++] = 0x0d;
    pkt[n++] = 0x0a;
    td_enc_put(&e, pkt, n);
    snprintf(ack, TD_ACK_MAX, "%08X", (unsigned)flag);
    return td_enc_done(&e, len, ack);
}

const td_protocol td_proto_gt06 = {
    /* Registry key, file and `decode --protocol` name. */
    .name = "gt06",
    .devices = "Concox / Jimi IoT GT06, GT06N, JM-VL01, JM-VL03, JM-LL01, X1, AT4, AM01, WeTrack "
               "and GT06 clones",
    /* TCP; the few units that can use UDP send the same packets. */
    .transports = TD_TCP | TD_UDP,
    /* Photo and OBD packets in the 0x7979 form. */
    .max_frame = GT06_MAX_FRAME,
    /* 7878/7979, a known type, or a whole frame with a good CRC. */
    .detect = detect,
    /* Length byte(s), checked against the 0D0A stop bytes. */
    .frame = frame,
    /* Login, status, GPS/LBS/WiFi reports, alarms, information, answers. */
    .decode = decode,
    /* Locate, interval, oil/power cut and restore, reboot, time zone, custom. */
    .commands = gt06_commands,
    /* The 0x80 online command with the SMS command text; ack = server flag. */
    .encode = encode,
};
