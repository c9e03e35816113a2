/*
 * kubetrail.parse._speedups: the ECS mapping of the usual audit event, in C.
 *
 * `document(event, message)` builds the same document as kubetrail.parse.ecs._mapped does
 * for an event of the usual shape, and returns None for any other event, which the Python
 * mapping then builds. `normalize(message)` decodes the message (UTF-8, then the typed msgspec
 * decode) and maps it so, or returns None for the Python `normalize` to do it all. The Python
 * mapping is the reference: this file only takes its most common path, and the tests
 * (tests/test_parse_speedups.py) check that both give the same document.
 *
 * The usual shape: an auditID with a verb or a URI; no request or response body; no exec
 * command in the URI; a requestReceivedTimestamp absent or in the apiserver's own form
 * (YYYY-MM-DDTHH:MM:SS.ffffffZ, a valid time, a fraction that is not all zeros); a user name,
 * roles without an empty one and a first source address that is a dotted-quad IPv4 address;
 * an outcome, a status code, a user agent and a level and stage that the Python side has
 * already seen (their shared objects are in its caches, handed over by `configure`).
 *
 * The event is the struct that msgspec decoded (kubetrail.parse.schema). Its fields are read
 * through their member descriptors' offsets, found once by `configure`: the types are checked
 * exactly before any field is read.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <arpa/inet.h>

typedef struct {
    PyMemberDef *member; /* of the struct type's member descriptor: where the field lives */
} Field;

/* the structs and their fields (kubetrail.parse.schema) */
static PyTypeObject *EventType, *UserType, *RefType, *StatusType, *AnnotationsType;
static Field f_audit_id, f_verb, f_uri, f_received, f_annotations, f_status, f_user,
    f_impersonated, f_source_ips, f_ref, f_request, f_response, f_user_agent, f_level, f_stage;
static Field f_username, f_uid, f_groups;
static Field f_namespace, f_resource, f_subresource, f_api_group, f_name;
static Field f_code;
static Field f_decision, f_reason;

/* the Python side's caches of shared objects (kubetrail.parse.ecs, .useragent) */
static PyObject *actions, *http_codes, *levels, *user_agents;
/* the typed msgspec decode (schema.DECODER.decode) and the size limit (ecs.MAX_EVENT_BYTES) */
static PyObject *decode;
static Py_ssize_t max_bytes;

static PyObject *k_message, *k_event, *k_code, *k_action, *k_start, *k_outcome, *k_http,
    *k_url, *k_path, *k_user, *k_id, *k_name, *k_roles, *k_source, *k_ip, *k_address,
    *k_related, *k_kubernetes, *k_rbacreason, *k_namespace, *k_resource, *k_subresource,
    *k_api, *k_group, *k_object, *k_user_agent, *k_kubetrail, *s_command;

/* a field's value, borrowed (NULL only if code deleted the attribute: never usual) */
#define GET(obj, field) (*(PyObject **)((char *)(obj) + (field).member->offset))
#define IS(obj, type) ((obj) != NULL && Py_IS_TYPE((obj), (type)))
#define IS_LIST(obj) ((obj) != NULL && PyList_CheckExact(obj))
#define NOT_USUAL Py_RETURN_NONE
/* var = cache[key], a dict (borrowed); an error is raised, a miss is not the usual event */
#define CACHED(var, cache, key)                           \
    do {                                                  \
        var = PyDict_GetItemWithError((cache), (key));    \
        if (var == NULL || !PyDict_CheckExact(var)) {     \
            if (PyErr_Occurred()) {                       \
                return NULL;                              \
            }                                             \
            NOT_USUAL;                                    \
        }                                                 \
    } while (0)

static int
find_field(Field *field, PyTypeObject *type, const char *name)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)type, name);
    if (descr == NULL) {
        return -1;
    }
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a struct field", type->tp_name, name);
        Py_DECREF(descr);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    Py_DECREF(descr); /* the type's dict keeps it, and this module keeps the type */
    if (member->type != T_OBJECT_EX && member->type != T_OBJECT) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object field", type->tp_name, name);
        return -1;
    }
    field->member = member;
    return 0;
}

/* *slot = value (a new reference), when `fits`; else a TypeError saying what was expected */
static int
take(PyObject **slot, PyObject *value, int fits, const char *expected)
{
    if (!fits) {
        PyErr_Format(PyExc_TypeError, "configure() takes %s", expected);
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

#define TAKE_TYPE(slot, value) \
    take((PyObject **)&(slot), (value), PyType_Check(value), "the struct types first")
#define TAKE_DICT(slot, value) \
    take(&(slot), (value), PyDict_CheckExact(value), "the caches as dicts")

/* configure(Event, UserInfo, ObjectRef, Status, Annotations, actions, http, levels, agents,
 *           decode, max_bytes) */
static PyObject *
configure(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "configure() takes 11 arguments");
        return NULL;
    }
    if (!PyCallable_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError, "configure() takes the decoder's decode method");
        return NULL;
    }
    max_bytes = PyLong_AsSsize_t(args[10]);
    if (max_bytes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_INCREF(args[9]);
    Py_XSETREF(decode, args[9]);
    if (TAKE_TYPE(EventType, args[0]) || TAKE_TYPE(UserType, args[1]) ||
        TAKE_TYPE(RefType, args[2]) || TAKE_TYPE(StatusType, args[3]) ||
        TAKE_TYPE(AnnotationsType, args[4]) || TAKE_DICT(actions, args[5]) ||
        TAKE_DICT(http_codes, args[6]) || TAKE_DICT(levels, args[7]) ||
        TAKE_DICT(user_agents, args[8])) {
        Py_CLEAR(EventType); /* not configured: every event goes to the Python mapping */
        return NULL;
    }
    if (find_field(&f_audit_id, EventType, "auditID") ||
        find_field(&f_verb, EventType, "verb") ||
        find_field(&f_uri, EventType, "requestURI") ||
        find_field(&f_received, EventType, "requestReceivedTimestamp") ||
        find_field(&f_annotations, EventType, "annotations") ||
        find_field(&f_status, EventType, "responseStatus") ||
        find_field(&f_user, EventType, "user") ||
        find_field(&f_impersonated, EventType, "impersonatedUser") ||
        find_field(&f_source_ips, EventType, "sourceIPs") ||
        find_field(&f_ref, EventType, "objectRef") ||
        find_field(&f_request, EventType, "requestObject") ||
        find_field(&f_response, EventType, "responseObject") ||
        find_field(&f_user_agent, EventType, "userAgent") ||
        find_field(&f_level, EventType, "level") ||
        find_field(&f_stage, EventType, "stage") ||
        find_field(&f_username, UserType, "username") ||
        find_field(&f_uid, UserType, "uid") ||
        find_field(&f_groups, UserType, "groups") ||
        find_field(&f_namespace, RefType, "namespace") ||
        find_field(&f_resource, RefType, "resource") ||
        find_field(&f_subresource, RefType, "subresource") ||
        find_field(&f_api_group, RefType, "apiGroup") ||
        find_field(&f_name, RefType, "name") ||
        find_field(&f_code, StatusType, "code") ||
        find_field(&f_decision, AnnotationsType, "decision") ||
        find_field(&f_reason, AnnotationsType, "reason")) {
        Py_CLEAR(EventType); /* not configured: every event goes to the Python mapping */
        return NULL;
    }
    Py_RETURN_NONE;
}

/* 1 for a non-empty str, 0 for an empty one, -1 for anything else */
static inline int
text(PyObject *value)
{
    if (value == NULL || !PyUnicode_CheckExact(value)) {
        return -1;
    }
    return PyUnicode_GET_LENGTH(value) > 0;
}

static inline int
digits(const Py_UCS1 *s, int n)
{
    int value = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

/* The apiserver's own time form, a valid time with a fraction that is not all zeros: what
 * the Python mapping keeps as it is (`canonical` in ecs._mapped). */
static int
canonical_time(PyObject *value)
{
    if (PyUnicode_GET_LENGTH(value) != 27 || !PyUnicode_IS_ASCII(value)) {
        return 0;
    }
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(value);
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != '.' || s[26] != 'Z') {
        return 0;
    }
    int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), minute = digits(s + 14, 2), second = digits(s + 17, 2);
    int fraction = digits(s + 20, 6);
    if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 59 || fraction <= 0) {
        return 0;
    }
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return day <= days[month - 1] + (month == 2 && leap);
}

/* A dotted-quad IPv4 address as inet_pton reads it (what the Python mapping checks first). */
static int
dotted_quad(PyObject *value)
{
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_ASCII(value)) {
        return 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    if (n < 7 || n > 15) {
        return 0;
    }
    char text[16];
    memcpy(text, PyUnicode_1BYTE_DATA(value), n);
    text[n] = '\0';
    if ((Py_ssize_t)strlen(text) != n) {
        return 0;
    }
    unsigned char address[4];
    return inet_pton(AF_INET, text, address) == 1;
}

static inline int
set(PyObject *dict, PyObject *key, PyObject *value)
{
    return PyDict_SetItem(dict, key, value);
}

/* {key: value}, or {k1: v1, k2: v2} */
static PyObject *
one(PyObject *key, PyObject *value)
{
    PyObject *dict = PyDict_New();
    if (dict != NULL && set(dict, key, value) < 0) {
        Py_CLEAR(dict);
    }
    return dict;
}

static PyObject *
list_of(PyObject *value)
{
    PyObject *list = PyList_New(1);
    if (list != NULL) {
        Py_INCREF(value);
        PyList_SET_ITEM(list, 0, value);
    }
    return list;
}

/* dict[key] = new (a new reference, given up) */
static inline int
put(PyObject *dict, PyObject *key, PyObject *new)
{
    if (new == NULL) {
        return -1;
    }
    int failed = set(dict, key, new);
    Py_DECREF(new);
    return failed;
}

static PyObject *
document(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "document() takes 2 arguments");
        return NULL;
    }
    PyObject *ev = args[0], *message = args[1];
    if (EventType == NULL || !Py_IS_TYPE(ev, EventType)) {
        NOT_USUAL;
    }

    /* --- everything that can send the event to the Python mapping, before building --- */
    PyObject *audit_id = GET(ev, f_audit_id), *verb = GET(ev, f_verb), *uri = GET(ev, f_uri);
    int has_id = text(audit_id), has_verb = text(verb), has_uri = text(uri);
    if (has_id != 1 || has_verb < 0 || has_uri < 0 || !(has_verb || has_uri)) {
        NOT_USUAL;
    }
    if (GET(ev, f_request) != Py_None || GET(ev, f_response) != Py_None) {
        NOT_USUAL;
    }
    if (has_uri) {
        int exec = PyUnicode_Contains(uri, s_command);
        if (exec < 0) {
            return NULL;
        }
        if (exec) {
            NOT_USUAL;
        }
    }
    PyObject *received = GET(ev, f_received);
    int has_received = text(received);
    if (has_received < 0 || (has_received && !canonical_time(received))) {
        NOT_USUAL;
    }

    PyObject *decision = NULL, *reason = NULL, *action = NULL;
    PyObject *annotations = GET(ev, f_annotations);
    if (annotations != Py_None) {
        if (!IS(annotations, AnnotationsType)) {
            NOT_USUAL;
        }
        decision = GET(annotations, f_decision);
        reason = GET(annotations, f_reason);
        int has_decision = text(decision), has_reason = text(reason);
        if (has_decision < 0 || has_reason < 0) {
            NOT_USUAL;
        }
        if (has_decision) {
            CACHED(action, actions, decision);
        }
        else {
            decision = NULL;
        }
        if (!has_reason) {
            reason = NULL;
        }
    }

    PyObject *http = NULL;
    PyObject *status = GET(ev, f_status);
    if (status != Py_None) {
        if (!IS(status, StatusType)) {
            NOT_USUAL;
        }
        PyObject *code = GET(status, f_code);
        if (code != Py_None) {
            if (code == NULL || !PyLong_CheckExact(code)) {
                NOT_USUAL;
            }
            CACHED(http, http_codes, code);
        }
    }

    /* the name and the roles are chosen independently: an impersonation may set only one */
    PyObject *real = GET(ev, f_user), *impersonated = GET(ev, f_impersonated);
    PyObject *uid = NULL, *name = NULL, *groups = NULL;
    if (real != Py_None) {
        if (!IS(real, UserType)) {
            NOT_USUAL;
        }
        uid = GET(real, f_uid);
        name = GET(real, f_username);
        groups = GET(real, f_groups);
    }
    if (impersonated != Py_None) {
        if (!IS(impersonated, UserType)) {
            NOT_USUAL;
        }
        PyObject *other_name = GET(impersonated, f_username);
        PyObject *other_groups = GET(impersonated, f_groups);
        if (text(other_name) != 0) {
            name = other_name; /* not empty (or not a str, refused below) */
        }
        if (!IS_LIST(other_groups) || PyList_GET_SIZE(other_groups) > 0) {
            groups = other_groups;
        }
    }
    int has_uid = uid == NULL ? 0 : text(uid);
    if (has_uid < 0 || name == NULL || text(name) != 1 || groups == NULL ||
        !IS_LIST(groups) || PyList_GET_SIZE(groups) == 0) {
        NOT_USUAL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(groups); i++) {
        if (text(PyList_GET_ITEM(groups, i)) != 1) {
            NOT_USUAL;
        }
    }
    PyObject *ips = GET(ev, f_source_ips);
    if (!IS_LIST(ips) || PyList_GET_SIZE(ips) == 0) {
        NOT_USUAL;
    }
    PyObject *ip = PyList_GET_ITEM(ips, 0);
    if (!dotted_quad(ip)) {
        NOT_USUAL;
    }

    PyObject *ref = GET(ev, f_ref);
    PyObject *namespace = NULL, *resource = NULL, *subresource = NULL, *group = NULL;
    PyObject *object = NULL;
    if (ref != Py_None) {
        if (!IS(ref, RefType)) {
            NOT_USUAL;
        }
        namespace = GET(ref, f_namespace);
        resource = GET(ref, f_resource);
        subresource = GET(ref, f_subresource);
        group = GET(ref, f_api_group);
        object = GET(ref, f_name);
        if (text(namespace) < 0 || text(resource) < 0 || text(subresource) < 0 ||
            text(group) < 0 || text(object) < 0) {
            NOT_USUAL;
        }
    }

    PyObject *agent = GET(ev, f_user_agent), *agent_doc = NULL;
    int has_agent = text(agent);
    if (has_agent < 0) {
        NOT_USUAL;
    }
    if (has_agent) {
        CACHED(agent_doc, user_agents, agent);
    }

    PyObject *level = GET(ev, f_level), *stage = GET(ev, f_stage);
    if (text(level) < 0 || text(stage) < 0) {
        NOT_USUAL;
    }
    PyObject *stages, *own;
    CACHED(stages, levels, level);
    CACHED(own, stages, stage);

    /* --- the document ---
     * The cached objects are held from here: building allocates, an allocation may run the
     * garbage collector, and a finalizer could run Python code that empties a cache. */
    Py_XINCREF(action);
    Py_XINCREF(http);
    Py_XINCREF(agent_doc);
    Py_INCREF(own);
    /* sized for their usual keys: no dict grows while it is filled */
    PyObject *doc = _PyDict_NewPresized(12), *event = _PyDict_NewPresized(4);
    PyObject *kubernetes = _PyDict_NewPresized(6);
    if (doc == NULL || event == NULL || kubernetes == NULL) {
        goto failed;
    }
    if (set(doc, k_message, message) || set(doc, k_event, event) ||
        set(event, k_code, audit_id)) {
        goto failed;
    }
    if (has_verb && set(event, k_action, verb)) {
        goto failed;
    }
    if (has_received && set(event, k_start, received)) {
        goto failed;
    }
    if (decision != NULL && (set(event, k_outcome, decision) || set(doc, k_action, action))) {
        goto failed;
    }
    if (reason != NULL && set(kubernetes, k_rbacreason, reason)) {
        goto failed;
    }
    if (http != NULL && set(doc, k_http, http)) {
        goto failed;
    }
    if (has_uri && put(doc, k_url, one(k_path, uri))) {
        goto failed;
    }

    PyObject *user = PyDict_New();
    if (put(doc, k_user, user) || (has_uid && set(user, k_id, uid)) ||
        set(user, k_name, name) || set(user, k_roles, groups)) {
        goto failed;
    }
    PyObject *source = PyDict_New();
    if (put(doc, k_source, source) || set(source, k_ip, ip) || set(source, k_address, ip)) {
        goto failed;
    }
    PyObject *related = PyDict_New();
    if (put(doc, k_related, related) || put(related, k_user, list_of(name)) ||
        put(related, k_ip, list_of(ip))) {
        goto failed;
    }

    if (ref != Py_None) {
        if ((text(namespace) && set(kubernetes, k_namespace, namespace)) ||
            (text(resource) && set(kubernetes, k_resource, resource)) ||
            (text(subresource) && set(kubernetes, k_subresource, subresource)) ||
            (text(group) && put(kubernetes, k_api, one(k_group, group))) ||
            (text(object) && put(kubernetes, k_object, one(k_name, object)))) {
            goto failed;
        }
    }
    if (PyDict_GET_SIZE(kubernetes) > 0 && set(doc, k_kubernetes, kubernetes)) {
        goto failed;
    }
    if (agent_doc != NULL && set(doc, k_user_agent, agent_doc)) {
        goto failed;
    }
    if (PyDict_GET_SIZE(own) > 0 && set(doc, k_kubetrail, own)) {
        goto failed;
    }
    Py_DECREF(event);
    Py_DECREF(kubernetes);
    goto done;

failed:
    Py_CLEAR(doc);
    Py_XDECREF(event);
    Py_XDECREF(kubernetes);
done:
    Py_XDECREF(action);
    Py_XDECREF(http);
    Py_XDECREF(agent_doc);
    Py_DECREF(own);
    return doc;
}

/* normalize(message): `document` of the message's event, or None when it is not the usual
 * event, or not valid UTF-8, or too large, or not decoded by the typed decode: the Python
 * `normalize` then does it all, and raises what it raises. */
static PyObject *
normalize(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "normalize() takes 1 argument");
        return NULL;
    }
    if (decode == NULL || EventType == NULL) {
        NOT_USUAL;
    }
    PyObject *message = args[0], *text;
    if (PyUnicode_CheckExact(message)) {
        if (PyUnicode_GET_LENGTH(message) > max_bytes) {
            NOT_USUAL;
        }
        text = Py_NewRef(message);
    }
    else if (PyBytes_CheckExact(message)) {
        if (PyBytes_GET_SIZE(message) > max_bytes) {
            NOT_USUAL;
        }
        text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(message), PyBytes_GET_SIZE(message),
                                    NULL);
        if (text == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                return NULL;
            }
            PyErr_Clear();
            NOT_USUAL;
        }
    }
    else {
        NOT_USUAL;
    }
    PyObject *event = PyObject_Vectorcall(decode, &text, 1, NULL);
    if (event == NULL) {
        /* msgspec's errors (not JSON, a field of another type) are the Python side's to
         * report; anything else (no memory) is raised */
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
            Py_DECREF(text);
            return NULL;
        }
        PyErr_Clear();
        Py_DECREF(text);
        NOT_USUAL;
    }
    PyObject *pair[2] = {event, text};
    PyObject *doc = document(self, pair, 2);
    Py_DECREF(event);
    Py_DECREF(text);
    return doc;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "configure(Event, UserInfo, ObjectRef, Status, Annotations, actions, http, levels, "
     "agents): the structs to read and the Python side's caches of shared objects."},
    {"document", (PyCFunction)(void (*)(void))document, METH_FASTCALL,
     "document(event, message) -> dict | None: the ECS document of a usual event, or None."},
    {"normalize", (PyCFunction)(void (*)(void))normalize, METH_FASTCALL,
     "normalize(message: str | bytes) -> dict | None: `document` of the message's event."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kubetrail.parse._speedups",
    .m_doc = "The ECS mapping of the usual audit event, in C (see kubetrail.parse.ecs).",
    .m_size = -1,
    .m_methods = methods,
};

#define INTERN(var, text)                                 \
    if ((var = PyUnicode_InternFromString(text)) == NULL) { \
        return NULL;                                        \
    }

PyMODINIT_FUNC
PyInit__speedups(void)
{
    INTERN(k_message, "message");
    INTERN(k_event, "event");
    INTERN(k_code, "code");
    INTERN(k_action, "action");
    INTERN(k_start, "start");
    INTERN(k_outcome, "outcome");
    INTERN(k_http, "http");
    INTERN(k_url, "url");
    INTERN(k_path, "path");
    INTERN(k_user, "user");
    INTERN(k_id, "id");
    INTERN(k_name, "name");
    INTERN(k_roles, "roles");
    INTERN(k_source, "source");
    INTERN(k_ip, "ip");
    INTERN(k_address, "address");
    INTERN(k_related, "related");
    INTERN(k_kubernetes, "kubernetes");
    INTERN(k_rbacreason, "rbacreason");
    INTERN(k_namespace, "namespace");
    INTERN(k_resource, "resource");
    INTERN(k_subresource, "subresource");
    INTERN(k_api, "api");
    INTERN(k_group, "group");
    INTERN(k_object, "object");
    INTERN(k_user_agent, "user_agent");
    INTERN(k_kubetrail, "kubetrail");
    INTERN(s_command, "command=");
    return PyModule_Create(&module);
}
