/*
 * Notification delivery: the outbox (written by the store in the same
 * transaction as each event) is drained to webhooks, e-mail and MQTT.
 *
 * Threads: the loop thread reads due entries (outbox_due, at most JOB_MAX
 * at a time), builds each delivery completely (URL or address or topic,
 * and the body) and hands the group to the loop's thread pool as one job;
 * the job only does network I/O, one delivery after another; the loop
 * thread then records each outcome (outbox_result) and logs it. One job is
 * in flight at a time, so an entry is never sent twice concurrently.
 *
 * Wake-ups: once at start (what was left before a restart goes first),
 * td_notify_kick() after a commit that queued entries, right after a job
 * ends (and, when one of its deliveries is to be retried within a second,
 * at that time), and a 1 s tick, which picks up retries as they fall due
 * (one indexed query per second; nothing is logged when nothing is due).
 *
 * Stopping: the delivery in progress finishes and the job's outcomes are
 * recorded; deliveries of the job not yet begun stay pending for the next
 * start, so a stop waits at most about one --notify-timeout.
 *
 * Retries: a failed attempt is retried after 2 s, doubling per attempt up
 * to --notify-retry-max; an entry is given up ("failed") once
 * --notify-expire hours have passed since it was queued. An entry for a
 * channel that is switched off (no --smtp-url / --mqtt-url) or whose
 * target cannot be used fails at once, with an error line.
 *
 * Connections: webhooks and e-mail use one libcurl easy handle per job
 * (connections to the same host are reused within the job); MQTT connects
 * when a job has its first MQTT delivery, publishes at QoS 1 and counts a
 * message delivered only on its PUBACK, and disconnects at the end of the
 * job. Alerts are rare, so a connection per job costs little and there is
 * no idle connection to watch. Each attempt is bounded by --notify-timeout.
 */
#include "notify/notify.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <mosquitto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "core/text.h"
#include "http/sbuf.h"
#include "trackd/error.h"

#define JOB_MAX 16            /* deliveries per job */
#define TICK_MS 1000          /* idle check for retries that fell due */
#define BACKOFF_FIRST_MS 2000 /* wait after the first failed attempt */
#define ERR_MAX 256

enum outcome {
    OUT_NONE,    /* not attempted (the job stopped early): stays pending */
    OUT_SENT,    /* delivered */
    OUT_RETRY,   /* this attempt failed; try again later */
    OUT_FAILED,  /* cannot be delivered: give up now */
    OUT_EXPIRED, /* queued longer than --notify-expire: give up, unsent */
};

/* One delivery, built on the loop thread and owned by the job. */
typedef struct delivery {
    int64_t id;
    const struct channel *ch;
    char *target; /* the webhook URL, e-mail address or MQTT topic */
    char *body;   /* JSON payload, or the whole e-mail */
    size_t body_len;
    int attempts; /* failed attempts before this one */
    int64_t created_ms;
    bool allow_local;    /* a webhook may post to a local network */
    char refused_ip[64]; /* the local address a webhook was not let reach */
    enum outcome outcome;
    char error[ERR_MAX];
} delivery;

/* What a job keeps open from one delivery to the next (worker thread). */
typedef struct job_conn {
    CURL *curl;
    struct mosquitto *mosq;
    char mqtt_down[ERR_MAX]; /* the broker could not be reached in this job */
} job_conn;

struct td_notify {
    uv_loop_t *loop;
    td_store *store;
    td_config cfg;
    char mqtt_host[256];
    int mqtt_port;
    uv_timer_t timer;
    uv_work_t work;
    delivery job[JOB_MAX];
    int njob;
    bool busy;              /* a job is on the thread pool */
    bool stopping;          /* td_notify_stop was called */
    atomic_bool stop_job;   /* tells the running job to skip what it has not begun */
    unsigned long long seq; /* MQTT client ids */
    td_notify_stats stats;
};

/* A delivery channel: how an outbox entry becomes a delivery, and how it
 * is sent. */
typedef struct channel {
    const char *name;  /* the notification's channel */
    const char *label; /* for log lines */
    /* Why the channel is off in this configuration, or NULL when it is on
     * (a NULL hook: always on). */
    const char *(*off)(const td_notify *n);
    /* Loop thread: fills d->target and d->body from o. Returns 0, or a
     * negative code with the reason in d->error (the entry fails). */
    int (*prepare)(td_notify *n, const td_store_outbox *o, delivery *d);
    /* Worker thread: one attempt; sets d->outcome and, on failure, d->error. */
    void (*send)(td_notify *n, job_conn *c, delivery *d);
} channel;

/* ---- helpers shared by the channels ----------------------------------- */

int64_t td_notify_backoff_ms(int attempts, int retry_max_s)
{
    int64_t cap = (int64_t)retry_max_s * 1000;
    int64_t wait = BACKOFF_FIRST_MS;

    for (int i = 1; i < attempts && wait < cap; i++)
        wait *= 2;
    return wait < cap ? wait : cap;
}

static bool v4_local(const uint8_t *a)
{
    return a[0] == 0 || a[0] == 10 || a[0] == 127 ||  /* this network, private, loopback */
           (a[0] == 100 && (a[1] & 0xc0) == 64) ||    /* shared address space (CGNAT) */
           (a[0] == 169 && a[1] == 254) ||            /* link-local */
           (a[0] == 172 && (a[1] & 0xf0) == 16) ||    /* private */
           (a[0] == 192 && a[1] == 168) ||            /* private */
           (a[0] == 192 && a[1] == 0 && a[2] == 0) || /* IETF protocol assignments */
           (a[0] == 198 && (a[1] & 0xfe) == 18) ||    /* benchmarking */
           a[0] >= 224;                               /* multicast, reserved, broadcast */
}

bool td_ip_local(const char *ip)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return v4_local(a);
    if (inet_pton(AF_INET6, ip, a) != 1)
        return true;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0)
        return v4_local(a + 12);
    bool zero = true; /* :: and ::1 */
    for (int i = 0; i < 15; i++)
        zero = zero && a[i] == 0;
    return (zero && a[15] <= 1) || (a[0] & 0xfe) == 0xfc || /* unique local fc00::/7 */
           (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||       /* link-local fe80::/10 */
           a[0] == 0xff;                                    /* multicast */
}

bool td_url_ip_literal(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    if (!p || !cap)
        return false;
    p += 3;
    const char *at = p + strcspn(p, "/?#");
    for (const char *q = p; q < at; q++) /* user:password@host */
        if (*q == '@')
            p = q + 1;
    size_t n;
    if (*p == '[') {
        const char *end = memchr(p, ']', (size_t)(at - p));
        if (!end)
            return false;
        p++;
        n = (size_t)(end - p);
    } else {
        n = strcspn(p, ":/?#");
    }
    if (!n || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    uint8_t a[16];
    return inet_pton(AF_INET, out, a) == 1 || inet_pton(AF_INET6, out, a) == 1;
}

bool td_notify_address_ok(const char *s)
{
    const char *at = strchr(s, '@');

    if (!at || at == s || !at[1] || strchr(at + 1, '@') || strlen(s) > 254)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("<>()[],;:\\\"", *p))
            return false;
    return true;
}

/* Appends a template value with characters that would change the topic's
 * structure replaced. */
static size_t topic_value(char *out, size_t cap, size_t len, const char *v)
{
    for (; v && *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (len + 1 < cap)
            out[len] = (ch < ' ' || ch == 0x7f || ch == '/' || ch == '+' || ch == '#') ? '_' : *v;
        len++;
    }
    return len;
}

int td_notify_topic(char *out, size_t cap, const char *tmpl, const char *unique_id,
                    int64_t device_id, const char *type)
{
    char id[24];
    size_t len = 0;

    snprintf(id, sizeof(id), "%lld", (long long)device_id);
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{uniqueId}", 10)) {
            len = topic_value(out, cap, len, unique_id);
            p += 10;
        } else if (!strncmp(p, "{deviceId}", 10)) {
            len = topic_value(out, cap, len, id);
            p += 10;
        } else if (!strncmp(p, "{type}", 6)) {
            len = topic_value(out, cap, len, type);
            p += 6;
        } else {
            if (len + 1 < cap)
                out[len] = *p;
            len++;
            p++;
        }
    }
    if (cap)
        out[len < cap ? len : cap - 1] = '\0';
    return len < cap ? 0 : TD_ETOOBIG;
}

static const char *device_name(const td_store_outbox *o)
{
    if (o->device_name && *o->device_name)
        return o->device_name;
    return o->device_unique_id ? o->device_unique_id : "";
}

void td_notify_payload(td_sbuf *b, const td_store_outbox *o)
{
    td_sbuf_printf(b, "{\"deliveryId\":\"%lld\",\"reminder\":%s,\"event\":", (long long)o->id,
                   o->renotify ? "true" : "false");
    td_json_event(b, &o->event);
    td_sbuf_printf(b, ",\"device\":{\"id\":%lld,\"uniqueId\":", (long long)o->event.device_id);
    td_json_str(b, o->device_unique_id ? o->device_unique_id : "");
    td_sbuf_puts(b, ",\"name\":");
    td_json_str(b, device_name(o));
    td_sbuf_puts(b, "}}");
}

/* RFC 5322 date in UTC: "Thu, 01 Jan 2026 03:04:05 +0000". */
static void email_date(td_sbuf *b, int64_t ms)
{
    static const char *const days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int y, mo, d, h, mi, s;
    int64_t day = ms / 86400000;

    td_utc_fields(ms, &y, &mo, &d, &h, &mi, &s);
    td_sbuf_printf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[((day % 7) + 7) % 7], d,
                   months[mo - 1], y, h, mi, s);
}

/* A header value from untrusted text: control characters become spaces; a
 * value with bytes beyond ASCII is sent as RFC 2047 encoded words (UTF-8,
 * base64), each under the 75-character limit and cut between characters. */
static void email_header_text(td_sbuf *b, const char *s)
{
    size_t n = strlen(s);
    bool ascii = true;
    char clean[512];

    if (n >= sizeof(clean))
        n = sizeof(clean) - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        clean[i] = (ch < ' ' || ch == 0x7f) ? ' ' : s[i];
        ascii = ascii && ch < 0x80;
    }
    clean[n] = '\0';
    if (ascii) {
        td_sbuf_add(b, clean, n);
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t take = n - i > 45 ? 45 : n - i; /* 45 bytes -> 60 base64 characters */
        while (i + take < n && ((unsigned char)clean[i + take] & 0xc0) == 0x80)
            take--; /* never split a UTF-8 sequence */
        unsigned char enc[64];
        EVP_EncodeBlock(enc, (const unsigned char *)clean + i, (int)take);
        td_sbuf_printf(b, "%s=?UTF-8?B?%s?=", i ? "\r\n " : "", (const char *)enc);
        i += take;
    }
}

void td_notify_email(td_sbuf *b, const td_store_outbox *o, const char *from, int64_t now_ms)
{
    const td_store_event *e = &o->event;
    char subject[256], when[40];

    snprintf(subject, sizeof(subject), "[trackd] %s: %s%s", e->type, device_name(o),
             o->renotify ? " (reminder)" : "");
    td_sbuf_puts(b, "Date: ");
    email_date(b, now_ms);
    td_sbuf_printf(b, "\r\nFrom: %s\r\nTo: %s\r\nSubject: ", from, o->target);
    email_header_text(b, subject);
    td_sbuf_printf(b,
                   "\r\nMessage-ID: <trackd-%lld@trackd>\r\n"
                   "MIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n"
                   "Auto-Submitted: auto-generated\r\n\r\n",
                   (long long)o->id);
    if (o->renotify)
        td_sbuf_puts(b, "Reminder: this event has not been acknowledged yet.\r\n\r\n");
    td_sbuf_printf(b, "Event: %s%s\r\n", e->type, e->critical ? " (critical)" : "");
    /* The body is 8bit text: only line breaks in a name could break it. */
    td_sbuf_puts(b, "Device: ");
    for (const char *p = device_name(o); *p; p++)
        td_sbuf_add(b, (*p == '\r' || *p == '\n') ? " " : p, 1);
    td_sbuf_printf(b, " (%s)\r\nTime: %s\r\n", o->device_unique_id ? o->device_unique_id : "",
                   td_iso8601(e->time_ms, when, sizeof(when)));
    if (e->located)
        td_sbuf_printf(
            b,
            "Position: %.6f, %.6f\r\n"
            "Map: https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f#map=16/%.6f/%.6f\r\n",
            e->latitude, e->longitude, e->latitude, e->longitude, e->latitude, e->longitude);
    else
        td_sbuf_puts(b, "Position: unknown\r\n");
    td_sbuf_printf(b, "Event id: %lld\r\nDelivery id: %lld\r\n", (long long)e->id,
                   (long long)o->id);
}

/* Moves a finished sbuf into the delivery. */
static int take_body(delivery *d, td_sbuf *b)
{
    if (b->oom || !b->data) {
        td_sbuf_free(b);
        snprintf(d->error, sizeof(d->error), "out of memory");
        return TD_ENOMEM;
    }
    d->body = b->data;
    d->body_len = b->len;
    return 0;
}

static int set_target(delivery *d, const char *s)
{
    d->target = strdup(s);
    if (d->target)
        return 0;
    snprintf(d->error, sizeof(d->error), "out of memory");
    return TD_ENOMEM;
}

/* A curl handle for the next transfer: the job's, reset to defaults (its
 * connection cache stays), with what every transfer sets. */
static CURL *job_curl(td_notify *n, job_conn *c, char *errbuf)
{
    if (c->curl)
        curl_easy_reset(c->curl);
    else if (!(c->curl = curl_easy_init()))
        return NULL;
    errbuf[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, (long)n->cfg.notify_timeout);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long)n->cfg.notify_timeout);
    return c->curl;
}

static void curl_failed(delivery *d, CURLcode rc, const char *errbuf)
{
    d->outcome = OUT_RETRY;
    snprintf(d->error, sizeof(d->error), "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
}

/* ---- webhook ---------------------------------------------------------- */

static int webhook_prepare(td_notify *n, const td_store_outbox *o, delivery *d)
{
    td_sbuf b;

    if (strncasecmp(o->target, "http://", 7) && strncasecmp(o->target, "https://", 8)) {
        snprintf(d->error, sizeof(d->error), "not an http:// or https:// URL");
        return TD_EINVAL;
    }
    for (const unsigned char *p = (const unsigned char *)o->target; *p; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            snprintf(d->error, sizeof(d->error), "spaces or control characters in the URL");
            return TD_EINVAL;
        }
    }
    td_sbuf_init(&b, 0);
    td_notify_payload(&b, o);
    if (take_body(d, &b) < 0)
        return TD_ENOMEM;
    d->allow_local = o->owner_admin || n->cfg.webhook_allow_local;
    return set_target(d, o->target);
}

/* Once connected (or about to reuse a connection), before the request: a
 * webhook not allowed on local networks is stopped when its host's address
 * is one, whatever its name resolved to. */
static int webhook_prereq(void *arg, char *ip, char *local_ip, int ip_port, int local_port)
{
    delivery *d = arg;
    (void)local_ip;
    (void)ip_port;
    (void)local_port;
    if (d->allow_local || !td_ip_local(ip))
        return CURL_PREREQFUNC_OK;
    snprintf(d->refused_ip, sizeof(d->refused_ip), "%s", ip);
    return CURL_PREREQFUNC_ABORT;
}

/* The answer's body is not needed. */
static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

static void webhook_send(td_notify *n, job_conn *c, delivery *d)
{
    char errbuf[CURL_ERROR_SIZE], key[64];
    struct curl_slist *h = NULL, *more;
    CURL *curl = job_curl(n, c, errbuf);
    long status = 0;

    snprintf(key, sizeof(key), "Idempotency-Key: trackd-%lld", (long long)d->id);
    if (!curl || !(h = curl_slist_append(NULL, "Content-Type: application/json")) ||
        !(more = curl_slist_append(h, key)) || !(more = curl_slist_append(h, "Expect:"))) {
        curl_slist_free_all(h);
        d->outcome = OUT_RETRY;
        snprintf(d->error, sizeof(d->error), "out of memory");
        return;
    }
    curl_easy_setopt(curl, CURLOPT_URL, d->target);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "trackd/" TRACKD_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)d->body_len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, webhook_prereq);
    curl_easy_setopt(curl, CURLOPT_PREREQDATA, d);
    d->refused_ip[0] = '\0';
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(h);
    if (d->refused_ip[0]) {
        d->outcome = OUT_FAILED;
        snprintf(d->error, sizeof(d->error),
                 "refused: the target's address %s is on a local network, where only an admin's"
                 " channels may post (or start trackd with --webhook-allow-local)",
                 d->refused_ip);
        return;
    }
    if (rc != CURLE_OK) {
        curl_failed(d, rc, errbuf);
        return;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        d->outcome = OUT_SENT;
        return;
    }
    d->outcome = OUT_RETRY;
    snprintf(d->error, sizeof(d->error), "HTTP status %ld", status);
}

/* ---- e-mail ----------------------------------------------------------- */

static const char *email_off(const td_notify *n)
{
    return n->cfg.smtp_url[0] ? NULL : "e-mail notifications are off (no --smtp-url)";
}

static int email_prepare(td_notify *n, const td_store_outbox *o, delivery *d)
{
    td_sbuf b;

    if (!td_notify_address_ok(o->target)) {
        snprintf(d->error, sizeof(d->error), "not a plain e-mail address");
        return TD_EINVAL;
    }
    td_sbuf_init(&b, 0);
    td_notify_email(&b, o, n->cfg.smtp_from, td_now_ms());
    if (take_body(d, &b) < 0)
        return TD_ENOMEM;
    return set_target(d, o->target);
}

/* Feeds the message to curl's SMTP upload (which dot-stuffs it). */
typedef struct upload {
    const char *p;
    size_t left;
} upload;

static size_t upload_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    upload *u = arg;
    size_t n = size * nmemb < u->left ? size * nmemb : u->left;

    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

static void email_send(td_notify *n, job_conn *c, delivery *d)
{
    char errbuf[CURL_ERROR_SIZE], from[160], rcpt[300];
    struct curl_slist *to;
    CURL *curl = job_curl(n, c, errbuf);
    upload u = {d->body, d->body_len};

    snprintf(from, sizeof(from), "<%s>", n->cfg.smtp_from);
    snprintf(rcpt, sizeof(rcpt), "<%s>", d->target);
    if (!curl || !(to = curl_slist_append(NULL, rcpt))) {
        d->outcome = OUT_RETRY;
        snprintf(d->error, sizeof(d->error), "out of memory");
        return;
    }
    curl_easy_setopt(curl, CURLOPT_URL, n->cfg.smtp_url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &u);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)d->body_len);
    if (n->cfg.smtp_user[0]) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, n->cfg.smtp_user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, n->cfg.smtp_password);
        /* Never send the password in clear: smtp:// must upgrade (STARTTLS). */
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    } else {
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(to);
    if (rc != CURLE_OK)
        curl_failed(d, rc, errbuf);
    else
        d->outcome = OUT_SENT;
}

/* ---- MQTT ------------------------------------------------------------- */

/* What the callbacks report back to the waiting worker. */
typedef struct mqtt_state {
    int connack;  /* -1 until CONNACK, then its return code */
    bool lost;    /* the connection went away */
    int want_mid; /* the message waiting for its PUBACK */
    bool acked;
} mqtt_state;

static void on_mqtt_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    ((mqtt_state *)arg)->connack = rc;
}

static void on_mqtt_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    (void)rc;
    ((mqtt_state *)arg)->lost = true;
}

static void on_mqtt_publish(struct mosquitto *m, void *arg, int mid)
{
    mqtt_state *st = arg;
    (void)m;
    if (mid == st->want_mid)
        st->acked = true;
}

static const char *mqtt_off(const td_notify *n)
{
    return n->cfg.mqtt_url[0] ? NULL : "MQTT notifications are off (no --mqtt-url)";
}

static int mqtt_prepare(td_notify *n, const td_store_outbox *o, delivery *d)
{
    const char *tmpl = o->target && *o->target ? o->target : n->cfg.mqtt_topic;
    char topic[512];
    td_sbuf b;

    if (td_notify_topic(topic, sizeof(topic), tmpl, o->device_unique_id, o->event.device_id,
                        o->event.type) < 0 ||
        mosquitto_pub_topic_check2(topic, strlen(topic)) != MOSQ_ERR_SUCCESS ||
        mosquitto_validate_utf8(topic, (int)strlen(topic)) != MOSQ_ERR_SUCCESS) {
        snprintf(d->error, sizeof(d->error), "not a valid MQTT topic: %.200s", topic);
        return TD_EINVAL;
    }
    td_sbuf_init(&b, 0);
    td_notify_payload(&b, o);
    if (take_body(d, &b) < 0)
        return TD_ENOMEM;
    return set_target(d, topic);
}

static const char *mqtt_error(int rc)
{
    return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

/* Runs the client until done() holds, the connection fails, or deadline
 * (uv_hrtime ns) passes. Returns 0 or a message. */
static const char *mqtt_wait(struct mosquitto *m, mqtt_state *st, bool (*done)(mqtt_state *),
                             uint64_t deadline)
{
    while (!done(st)) {
        uint64_t now = uv_hrtime();
        if (st->lost)
            return "connection lost";
        if (now >= deadline)
            return "timed out";
        int wait_ms = (int)((deadline - now) / 1000000) + 1;
        int rc = mosquitto_loop(m, wait_ms > 200 ? 200 : wait_ms, 1);
        if (rc != MOSQ_ERR_SUCCESS)
            return mqtt_error(rc);
    }
    return NULL;
}

static bool mqtt_connacked(mqtt_state *st)
{
    return st->connack >= 0;
}

static bool mqtt_acked(mqtt_state *st)
{
    return st->acked;
}

static void mqtt_close(job_conn *c)
{
    if (!c->mosq)
        return;
    mqtt_state *st = mosquitto_userdata(c->mosq);
    if (st->connack == 0 && !st->lost)
        mosquitto_disconnect(c->mosq);
    mosquitto_destroy(c->mosq);
    free(st);
    c->mosq = NULL;
}

/* Connects the job's client (once per job). Returns 0 or sets c->mqtt_down. */
static int mqtt_connect(td_notify *n, job_conn *c, uint64_t deadline)
{
    mqtt_state *st = calloc(1, sizeof(*st));
    char id[64];
    const char *err = "out of memory";
    int rc;

    snprintf(id, sizeof(id), "trackd-%ld-%llu", (long)getpid(), n->seq++);
    if (!st || !(c->mosq = mosquitto_new(id, true, st))) {
        free(st);
        snprintf(c->mqtt_down, sizeof(c->mqtt_down), "%s", err);
        return TD_ENOMEM;
    }
    st->connack = -1;
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(c->mosq, on_mqtt_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_mqtt_disconnect);
    mosquitto_publish_callback_set(c->mosq, on_mqtt_publish);
    if (n->cfg.mqtt_user[0])
        mosquitto_username_pw_set(c->mosq, n->cfg.mqtt_user, n->cfg.mqtt_password);
    /* Asynchronous: the TCP connect, too, is bounded by the deadline. */
    rc = mosquitto_connect_async(c->mosq, n->mqtt_host, n->mqtt_port, 60);
    if (rc != MOSQ_ERR_SUCCESS)
        err = mqtt_error(rc);
    else if (!(err = mqtt_wait(c->mosq, st, mqtt_connacked, deadline)) && st->connack != 0)
        err = mosquitto_connack_string(st->connack);
    if (!err)
        return 0;
    snprintf(c->mqtt_down, sizeof(c->mqtt_down), "broker %.100s:%d: %.120s", n->mqtt_host,
             n->mqtt_port, err);
    mqtt_close(c);
    return TD_EIO;
}

static void mqtt_send(td_notify *n, job_conn *c, delivery *d)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)n->cfg.notify_timeout * 1000000000u;
    const char *err;
    int rc;

    if (!c->mqtt_down[0] && !c->mosq)
        mqtt_connect(n, c, deadline);
    if (c->mqtt_down[0]) {
        d->outcome = OUT_RETRY;
        snprintf(d->error, sizeof(d->error), "%s", c->mqtt_down);
        return;
    }
    mqtt_state *st = mosquitto_userdata(c->mosq);
    st->acked = false;
    rc = mosquitto_publish(c->mosq, &st->want_mid, d->target, (int)d->body_len, d->body, 1, false);
    err = rc != MOSQ_ERR_SUCCESS ? mqtt_error(rc) : mqtt_wait(c->mosq, st, mqtt_acked, deadline);
    if (!err) {
        d->outcome = OUT_SENT;
        return;
    }
    d->outcome = OUT_RETRY;
    snprintf(d->error, sizeof(d->error), "broker %.100s:%d: %.120s", n->mqtt_host, n->mqtt_port,
             err);
    mqtt_close(c); /* the next delivery starts on a fresh connection */
}

/* Parses mqtt://host[:port] (host may be [v6]). */
static int parse_mqtt_url(td_notify *n, const char *url, char *err, size_t errcap)
{
    const char *h = url + 7, *end, *colon;
    size_t hl;

    n->mqtt_port = 1883;
    if (strncasecmp(url, "mqtt://", 7))
        goto bad;
    if (*h == '[') {
        if (!(end = strchr(h, ']')))
            goto bad;
        hl = (size_t)(end - h - 1);
        h++;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] && !colon)
            goto bad;
    } else {
        colon = strchr(h, ':');
        hl = colon ? (size_t)(colon - h) : strlen(h);
    }
    if (colon) {
        int64_t port;
        if (!td_parse_int((td_span){colon + 1, strlen(colon + 1)}, &port) || port < 1 ||
            port > 65535)
            goto bad;
        n->mqtt_port = (int)port;
    }
    if (!hl || hl >= sizeof(n->mqtt_host) || memchr(h, '/', hl))
        goto bad;
    memcpy(n->mqtt_host, h, hl);
    n->mqtt_host[hl] = '\0';
    return 0;
bad:
    snprintf(err, errcap, "mqtt-url: expected mqtt://host[:port], got \"%s\"", url);
    return TD_EINVAL;
}

/* ---- the channel table ------------------------------------------------ */

static const channel channels[] = {
    {"webhook", "webhook", NULL, webhook_prepare, webhook_send},
    {"email", "e-mail", email_off, email_prepare, email_send},
    {"mqtt", "MQTT", mqtt_off, mqtt_prepare, mqtt_send},
};

static const channel *find_channel(const char *name)
{
    for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
        if (name && !strcmp(channels[i].name, name))
            return &channels[i];
    return NULL;
}

/* ---- the job ---------------------------------------------------------- */

static void free_delivery(delivery *d)
{
    free(d->target);
    free(d->body);
    memset(d, 0, sizeof(*d));
}

/* Worker thread: each delivery in turn, until told to stop. */
static void job_work(uv_work_t *w)
{
    td_notify *n = w->data;
    job_conn c = {0};

    for (int i = 0; i < n->njob && !atomic_load(&n->stop_job); i++)
        n->job[i].ch->send(n, &c, &n->job[i]);
    mqtt_close(&c);
    if (c.curl)
        curl_easy_cleanup(c.curl);
}

/* A target as it may appear in a log line: control characters (from an
 * entry refused for them) become '?', and it is cut at a sane length. */
static const char *log_text(const char *s, char *buf, size_t cap)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        buf[i] = ((unsigned char)s[i] < ' ' || s[i] == 0x7f) ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}

/* Loop thread: stores the outcome of one delivery and logs it. Returns
 * when it is to be tried again, or 0. */
static int64_t record(td_notify *n, delivery *d, int64_t now)
{
    const td_store_ops *ops = n->store->ops;
    const char *what = d->ch ? d->ch->label : "notification";
    char buf[200];
    const char *target = log_text(d->target, buf, sizeof(buf));
    int64_t expire_ms = d->created_ms + (int64_t)n->cfg.notify_expire * 3600000;
    int64_t retry = 0;
    int rc = 0;

    switch (d->outcome) {
    case OUT_NONE:
        return 0;
    case OUT_SENT:
        n->stats.delivered++;
        td_info("notify: delivery %lld by %s to %s done (attempt %d)", (long long)d->id, what,
                target, d->attempts + 1);
        rc = ops->outbox_result(n->store, d->id, "sent", 0, NULL, now);
        break;
    case OUT_RETRY: {
        int64_t next = now + td_notify_backoff_ms(d->attempts + 1, n->cfg.notify_retry_max);
        n->stats.failed_attempts++;
        if (next < expire_ms) {
            td_warn("notify: delivery %lld by %s to %s failed (attempt %d): %s; next attempt in "
                    "%.0f s",
                    (long long)d->id, what, target, d->attempts + 1, d->error,
                    (double)(next - now) / 1000.0);
            rc = ops->outbox_result(n->store, d->id, "pending", next, d->error, now);
            retry = next;
            break;
        }
        n->stats.given_up++;
        td_warn("notify: delivery %lld by %s to %s given up after %d attempts in %d h: %s",
                (long long)d->id, what, target, d->attempts + 1, n->cfg.notify_expire, d->error);
        rc = ops->outbox_result(n->store, d->id, "failed", 0, d->error, now);
        break;
    }
    case OUT_EXPIRED:
        n->stats.given_up++;
        td_warn("notify: delivery %lld by %s to %s given up after %d attempts: %s",
                (long long)d->id, what, target, d->attempts, d->error);
        rc = ops->outbox_result(n->store, d->id, "failed", 0, d->error, now);
        break;
    case OUT_FAILED:
        n->stats.given_up++;
        td_error("notify: delivery %lld by %s to %s failed: %s", (long long)d->id, what, target,
                 d->error);
        rc = ops->outbox_result(n->store, d->id, "failed", 0, d->error, now);
        break;
    }
    if (rc < 0)
        td_error("notify: cannot record delivery %lld: %s", (long long)d->id, td_strerror(rc));
    return retry;
}

/* outbox_due callback: turns a due entry into a delivery of the job, or
 * into an immediate failure when it cannot or may no longer be sent. */
static int collect(void *arg, const td_store_outbox *o)
{
    td_notify *n = arg;
    delivery *d = &n->job[n->njob++];
    int64_t expire_ms = o->created_ms + (int64_t)n->cfg.notify_expire * 3600000;
    const char *off;

    d->id = o->id;
    d->attempts = o->attempts;
    d->created_ms = o->created_ms;
    d->ch = find_channel(o->channel);
    if (!d->ch) {
        snprintf(d->error, sizeof(d->error), "unknown channel \"%.40s\"", o->channel);
    } else if (d->ch->off && (off = d->ch->off(n))) {
        snprintf(d->error, sizeof(d->error), "%s", off);
    } else if (td_now_ms() >= expire_ms) {
        snprintf(d->error, sizeof(d->error), "expired: queued over %d h ago, not delivered",
                 n->cfg.notify_expire);
        d->outcome = OUT_EXPIRED;
    } else if (d->ch->prepare(n, o, d) == 0) {
        return n->njob < JOB_MAX ? 0 : 1;
    }
    if (d->outcome == OUT_NONE)
        d->outcome = OUT_FAILED;
    if (!d->target)
        d->target = strdup(o->target ? o->target : "");
    return n->njob < JOB_MAX ? 0 : 1;
}

static void poll_outbox(td_notify *n);
static void on_tick(uv_timer_t *t);

static void job_done(uv_work_t *w, int status)
{
    td_notify *n = w->data;
    int64_t now = td_now_ms();
    int64_t first_retry = 0;
    (void)status;

    for (int i = 0; i < n->njob; i++) {
        int64_t retry = record(n, &n->job[i], now);
        if (retry && (!first_retry || retry < first_retry))
            first_retry = retry;
        free_delivery(&n->job[i]);
    }
    n->njob = 0;
    n->busy = false;
    if (n->stopping)
        return;
    poll_outbox(n);
    /* Wake for the first retry on time rather than at the next tick (a
     * little after it: the loop's clock may lag the wall clock). */
    if (!n->busy && first_retry && first_retry - now <= TICK_MS) {
        uv_update_time(n->loop);
        uv_timer_start(&n->timer, on_tick, (uint64_t)(first_retry - td_now_ms()) + 10, TICK_MS);
    }
}

/* Loop thread: takes what is due and starts a job for it. Entries that
 * fail at once are recorded here; when only such entries came back, looks
 * again (a bounded number of times; the tick picks up the rest). */
static void poll_outbox(td_notify *n)
{
    const td_store_ops *ops = n->store->ops;

    for (int round = 0; round < 8 && !n->busy && !n->stopping; round++) {
        int64_t now = td_now_ms();
        int rc = ops->outbox_due(n->store, now, JOB_MAX, collect, n);
        if (rc < 0)
            td_error("notify: cannot read the outbox: %s", td_strerror(rc));
        int keep = 0, taken = n->njob;
        for (int i = 0; i < n->njob; i++) {
            if (n->job[i].outcome != OUT_NONE) {
                record(n, &n->job[i], now);
                free_delivery(&n->job[i]);
            } else {
                n->job[keep++] = n->job[i];
            }
        }
        n->njob = keep;
        if (keep) {
            n->busy = true;
            n->work.data = n;
            if (uv_queue_work(n->loop, &n->work, job_work, job_done) < 0) {
                td_error("notify: cannot start a delivery job");
                for (int i = 0; i < keep; i++)
                    free_delivery(&n->job[i]);
                n->njob = 0;
                n->busy = false;
            }
            return;
        }
        if (taken < JOB_MAX)
            return; /* nothing more is due */
    }
}

static void on_tick(uv_timer_t *t)
{
    poll_outbox(t->data);
}

/* ---- the public interface --------------------------------------------- */

static int check_config(td_notify *n, char *err, size_t errcap)
{
    const td_config *c = &n->cfg;

    if (c->smtp_url[0] && strncasecmp(c->smtp_url, "smtp://", 7) &&
        strncasecmp(c->smtp_url, "smtps://", 8)) {
        snprintf(err, errcap, "smtp-url: expected smtp://host[:port] or smtps://host[:port]");
        return TD_EINVAL;
    }
    if (c->smtp_url[0] && !td_notify_address_ok(c->smtp_from)) {
        snprintf(err, errcap, "smtp-from: \"%s\" is not a plain e-mail address", c->smtp_from);
        return TD_EINVAL;
    }
    if (c->mqtt_url[0] && parse_mqtt_url(n, c->mqtt_url, err, errcap) < 0)
        return TD_EINVAL;
    return 0;
}

int td_notify_start(uv_loop_t *loop, td_store *store, const td_config *cfg, td_notify **out,
                    char *err, size_t errcap)
{
    td_notify *n;
    int rc;

    *out = NULL;
    if (!store->ops->outbox_due || !store->ops->outbox_result) {
        snprintf(err, errcap, "the %s store has no notification outbox", store->ops->name);
        return TD_EUNSUPPORTED;
    }
    if (!(n = calloc(1, sizeof(*n)))) {
        snprintf(err, errcap, "out of memory");
        return TD_ENOMEM;
    }
    n->loop = loop;
    n->store = store;
    n->cfg = *cfg;
    n->seq = (unsigned long long)td_now_ms();
    if ((rc = check_config(n, err, errcap)) < 0) {
        free(n);
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errcap, "cannot initialise libcurl");
        free(n);
        return TD_EIO;
    }
    mosquitto_lib_init();
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    uv_timer_start(&n->timer, on_tick, 0, TICK_MS); /* the first look is at once */
    td_info("notify: webhooks on, e-mail %s, MQTT %s", cfg->smtp_url[0] ? "on" : "off",
            cfg->mqtt_url[0] ? "on" : "off");
    *out = n;
    return 0;
}

void td_notify_kick(td_notify *n)
{
    if (n && !n->stopping && !n->busy)
        uv_timer_start(&n->timer, on_tick, 0, TICK_MS);
}

void td_notify_stop(td_notify *n)
{
    if (!n || n->stopping)
        return;
    n->stopping = true;
    atomic_store(&n->stop_job, true);
    uv_timer_stop(&n->timer);
    uv_close((uv_handle_t *)&n->timer, NULL);
}

void td_notify_free(td_notify *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->njob; i++)
        free_delivery(&n->job[i]);
    mosquitto_lib_cleanup();
    curl_global_cleanup();
    free(n);
}

void td_notify_stats_get(const td_notify *n, td_notify_stats *out)
{
    if (n)
        *out = n->stats;
    else
        memset(out, 0, sizeof(*out));
}
