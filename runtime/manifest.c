/*===- manifest.c - read manifest.json ------------------------------------===*
 *
 * A small JSON reader (objects, arrays, strings, integers, true/false/null)
 * into a node array, and the manifest fields on top of it. It validates
 * everything: the manifest may come from another version or be damaged.
 *
 *===----------------------------------------------------------------------===*/
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } json_type;

typedef struct json_node {
  json_type type;
  int64_t integer;
  int is_integer;
  const char *text; /* J_STRING: raw, between the quotes */
  size_t length;
  const char *key; /* member key, raw */
  size_t key_length;
  int first_child, next_sibling; /* -1 when none */
} json_node;

typedef struct parser {
  const char *p, *end;
  json_node *nodes;
  int count, capacity;
  int depth;
} parser;

static void skip_space(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' ||
                             *ps->p == '\r' || *ps->p == '\t'))
    ++ps->p;
}

static int new_node(parser *ps, json_type type) {
  if (ps->count == ps->capacity)
    return -1;
  json_node *n = &ps->nodes[ps->count];
  memset(n, 0, sizeof *n);
  n->type = type;
  n->first_child = n->next_sibling = -1;
  return ps->count++;
}

static int parse_string(parser *ps, const char **text, size_t *length) {
  if (ps->p >= ps->end || *ps->p != '"')
    return 0;
  const char *start = ++ps->p;
  while (ps->p < ps->end && *ps->p != '"') {
    if ((unsigned char)*ps->p < 0x20)
      return 0;
    ps->p += (*ps->p == '\\') ? 2 : 1;
  }
  if (ps->p >= ps->end)
    return 0;
  *text = start;
  *length = (size_t)(ps->p - start);
  ++ps->p;
  return 1;
}

static int parse_value(parser *ps);

static int parse_container(parser *ps, int node, char close, int is_object) {
  ++ps->p;
  if (++ps->depth > 32)
    return 0;
  int last = -1;
  skip_space(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ++ps->p;
    --ps->depth;
    return 1;
  }
  for (;;) {
    const char *key = NULL;
    size_t key_length = 0;
    skip_space(ps);
    if (is_object) {
      if (!parse_string(ps, &key, &key_length))
        return 0;
      skip_space(ps);
      if (ps->p >= ps->end || *ps->p != ':')
        return 0;
      ++ps->p;
    }
    int child = parse_value(ps);
    if (child < 0)
      return 0;
    ps->nodes[child].key = key;
    ps->nodes[child].key_length = key_length;
    if (last < 0)
      ps->nodes[node].first_child = child;
    else
      ps->nodes[last].next_sibling = child;
    last = child;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ++ps->p;
      continue;
    }
    if (ps->p < ps->end && *ps->p == close) {
      ++ps->p;
      --ps->depth;
      return 1;
    }
    return 0;
  }
}

static int parse_value(parser *ps) {
  skip_space(ps);
  if (ps->p >= ps->end)
    return -1;
  char c = *ps->p;
  int node;
  if (c == '{' || c == '[') {
    node = new_node(ps, c == '{' ? J_OBJECT : J_ARRAY);
    if (node < 0 || !parse_container(ps, node, c == '{' ? '}' : ']', c == '{'))
      return -1;
    return node;
  }
  if (c == '"') {
    node = new_node(ps, J_STRING);
    if (node < 0 ||
        !parse_string(ps, &ps->nodes[node].text, &ps->nodes[node].length))
      return -1;
    return node;
  }
  static const struct { const char *word; json_type type; } words[] = {
      {"true", J_BOOL}, {"false", J_BOOL}, {"null", J_NULL}};
  for (size_t i = 0; i < 3; ++i) {
    size_t n = strlen(words[i].word);
    if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, words[i].word, n)) {
      ps->p += n;
      node = new_node(ps, words[i].type);
      if (node >= 0)
        ps->nodes[node].integer = (i == 0);
      return node;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    node = new_node(ps, J_NUMBER);
    if (node < 0)
      return -1;
    int negative = (c == '-');
    if (negative)
      ++ps->p;
    int64_t value = 0;
    int digits = 0, overflow = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
      if (value > (INT64_MAX - 9) / 10)
        overflow = 1;
      value = value * 10 + (*ps->p++ - '0');
      ++digits;
    }
    int fraction = 0;
    while (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E' ||
                               *ps->p == '+' || *ps->p == '-' ||
                               (*ps->p >= '0' && *ps->p <= '9'))) {
      fraction = 1;
      ++ps->p;
    }
    if (!digits)
      return -1;
    ps->nodes[node].is_integer = !fraction && !overflow;
    ps->nodes[node].integer = negative ? -value : value;
    return node;
  }
  return -1;
}

static const json_node *member(const parser *ps, const json_node *object,
                               const char *key) {
  if (!object || object->type != J_OBJECT)
    return NULL;
  size_t n = strlen(key);
  for (int c = object->first_child; c >= 0; c = ps->nodes[c].next_sibling) {
    const json_node *m = &ps->nodes[c];
    if (m->key_length == n && !memcmp(m->key, key, n))
      return m;
  }
  return NULL;
}

/* Copies a string node, undoing \" and \\ escapes; 0 if it does not fit. */
static int copy_string(const json_node *node, char *out, size_t size) {
  if (!node || node->type != J_STRING)
    return 0;
  size_t o = 0;
  for (size_t i = 0; i < node->length; ++i) {
    char c = node->text[i];
    if (c == '\\' && i + 1 < node->length)
      c = node->text[++i];
    if (o + 1 >= size)
      return 0;
    out[o++] = c;
  }
  out[o] = '\0';
  return 1;
}

static int get_integer(const json_node *node, int64_t *out) {
  if (!node || node->type != J_NUMBER || !node->is_integer)
    return 0;
  *out = node->integer;
  return 1;
}

/* An optional key with two string values: absent or `off` gives 0, `on`
 * gives 1; anything else fails. */
static int get_choice(const json_node *node, const char *off, const char *on,
                      int *out) {
  char value[32];
  *out = 0;
  if (!node)
    return 1;
  if (!copy_string(node, value, sizeof value))
    return 0;
  *out = !strcmp(value, on);
  return *out || !strcmp(value, off);
}

static int64_t symbolic_dim(const json_node *node, int *ok) {
  char name[32];
  int64_t value;
  if (get_integer(node, &value) && value >= 0)
    return value;
  if (copy_string(node, name, sizeof name)) {
    if (!strcmp(name, "batch")) return DIM_BATCH;
    if (!strcmp(name, "tokens")) return DIM_TOKENS;
    if (!strcmp(name, "max_seq_len")) return DIM_MAX_SEQ_LEN;
    if (!strcmp(name, "weights_size")) return DIM_WEIGHTS;
  }
  *ok = 0;
  return 0;
}

chimera_status chimera_manifest_parse(const char *text, size_t size,
                                      const char *path,
                                      chimera_manifest *out) {
  memset(out, 0, sizeof *out);
  parser ps = {text, text + size, NULL, 0, 0, 0};
  ps.capacity = (int)(size / 2 + 16);
  if (size > (16u << 20))
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: %zu bytes is too large for "
                        "a manifest", path, size);
  ps.nodes = calloc((size_t)ps.capacity, sizeof(json_node));
  if (!ps.nodes)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);
  chimera_status status = CHIMERA_OK;
  int root_index = parse_value(&ps);
  skip_space(&ps);
  if (root_index < 0 || ps.p != ps.end || ps.nodes[root_index].type != J_OBJECT) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: not a valid JSON object "
                          "(near byte %zu)", path, (size_t)(ps.p - text));
    goto done;
  }
  const json_node *root = &ps.nodes[root_index];
  char format[64];
  if (!copy_string(member(&ps, root, "format"), format, sizeof format) ||
      strcmp(format, "chimera-artifact")) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key 'format' must be "
                          "\"chimera-artifact\"", path);
    goto done;
  }
  if (!copy_string(member(&ps, root, "chimera_version"), out->version,
                   sizeof out->version) ||
      !get_integer(member(&ps, root, "abi_version"), &out->abi_version)) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: keys 'chimera_version' "
                          "and 'abi_version' are required", path);
    goto done;
  }
  if (out->abi_version != CHIMERA_ABI_VERSION ||
      strcmp(out->version, CHIMERA_VERSION)) {
    status = chimera_fail(CHIMERA_ERROR_VERSION, "%s: artifact from chimera %s "
                          "(ABI %lld), this runtime is chimera %s (ABI %d); "
                          "recompile the model", path, out->version,
                          (long long)out->abi_version, CHIMERA_VERSION,
                          CHIMERA_ABI_VERSION);
    goto done;
  }
  struct { const char *key; char *dest; size_t size; } strings[] = {
      {"model_type", out->model_type, sizeof out->model_type},
      {"architecture", out->architecture, sizeof out->architecture},
      {"dtype", out->dtype, sizeof out->dtype}};
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; ++i)
    if (!copy_string(member(&ps, root, strings[i].key), strings[i].dest,
                     strings[i].size)) {
      status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key '%s' must be a "
                            "string", path, strings[i].key);
      goto done;
    }
  struct { const char *key; int64_t *dest; } integers[] = {
      {"vocab_size", &out->vocab_size}, {"max_seq_len", &out->max_seq_len},
      {"max_batch", &out->max_batch}};
  for (size_t i = 0; i < sizeof integers / sizeof integers[0]; ++i)
    if (!get_integer(member(&ps, root, integers[i].key), integers[i].dest) ||
        *integers[i].dest < 1) {
      status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key '%s' must be a "
                            "positive integer", path, integers[i].key);
      goto done;
    }
  if (!get_choice(member(&ps, root, "decode"), "cached", "recompute",
                  &out->recompute)) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key 'decode' must be "
                          "\"cached\" or \"recompute\"", path);
    goto done;
  }
  if (!get_choice(member(&ps, root, "logits"), "all", "last",
                  &out->last_logits)) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key 'logits' must be "
                          "\"all\" or \"last\"", path);
    goto done;
  }
  if (out->last_logits && out->recompute) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: \"logits\": \"last\" "
                          "cannot go with \"decode\": \"recompute\"", path);
    goto done;
  }
  const json_node *kind = member(&ps, root, "kind");
  if (kind && !get_choice(kind, "language-model", "image", &out->image)) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key 'kind' must be "
                          "\"language-model\" or \"image\"", path);
    goto done;
  }
  if (out->image) {
    const json_node *image = member(&ps, root, "image");
    const json_node *patches = member(&ps, image, "patch_nums");
    int ok = get_integer(member(&ps, image, "num_classes"), &out->num_classes) &&
             out->num_classes >= 1 && patches && patches->type == J_ARRAY;
    for (int c = ok ? patches->first_child : -1; c >= 0;
         c = ps.nodes[c].next_sibling) {
      int64_t p;
      if (out->num_scales == CHIMERA_MAX_SCALES ||
          !get_integer(&ps.nodes[c], &p) || p < 1) {
        ok = 0;
        break;
      }
      out->patch_nums[out->num_scales++] = p;
    }
    if (ok && !get_choice(member(&ps, image, "entry"), "generate",
                          "teacher_forcing", &out->teacher_forcing))
      ok = 0;
    if (!ok || out->num_scales == 0) {
      status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key 'image' must be "
                            "{\"num_classes\": N, \"patch_nums\": [1..%d "
                            "positive sizes], \"entry\": \"generate\" or "
                            "\"teacher_forcing\"}", path, CHIMERA_MAX_SCALES);
      goto done;
    }
  }
  const json_node *weights = member(&ps, root, "weights");
  if (!copy_string(member(&ps, weights, "file"), out->weights_file,
                   sizeof out->weights_file) ||
      strchr(out->weights_file, '/') ||
      !get_integer(member(&ps, weights, "size"), &out->weights_size) ||
      out->weights_size < 0) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key 'weights' must be "
                          "{\"file\": NAME, \"size\": BYTES}", path);
    goto done;
  }
  const json_node *args = member(&ps, root, "arguments");
  if (!args || args->type != J_ARRAY) {
    status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: key 'arguments' must be "
                          "an array", path);
    goto done;
  }
  for (int c = args->first_child; c >= 0; c = ps.nodes[c].next_sibling)
    ++out->num_args;
  out->args = calloc((size_t)out->num_args + 1, sizeof(chimera_arg));
  if (!out->args) {
    status = chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);
    goto done;
  }
  int index = 0;
  for (int c = args->first_child; c >= 0; c = ps.nodes[c].next_sibling, ++index) {
    const json_node *a = &ps.nodes[c];
    chimera_arg *arg = &out->args[index];
    char role[32], dtype[16];
    if (!copy_string(member(&ps, a, "name"), arg->name, sizeof arg->name) ||
        !copy_string(member(&ps, a, "role"), role, sizeof role) ||
        !copy_string(member(&ps, a, "dtype"), dtype, sizeof dtype)) {
      status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: arguments[%d] needs "
                            "string 'name', 'role' and 'dtype'", path, index);
      goto done;
    }
    static const char *const roles[] = {"weights", "input_ids", "positions",
                                        "lengths", "cache", "logits",
                                        "input", "output"};
    int found = -1;
    for (int r = 0; r < 8; ++r)
      if (!strcmp(role, roles[r]))
        found = r;
    arg->element_size = !strcmp(dtype, "f32") || !strcmp(dtype, "i32") ? 4
                        : !strcmp(dtype, "i64")                       ? 8
                        : !strcmp(dtype, "i8")                        ? 1
                        : !strcmp(dtype, "bf16") || !strcmp(dtype, "f16") ? 2
                                                                          : 0;
    if (found < 0 || !arg->element_size) {
      status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: argument '%s' has an "
                            "unknown role '%s' or dtype '%s'", path, arg->name,
                            role, dtype);
      goto done;
    }
    arg->role = (enum arg_role)found;
    const json_node *shape = member(&ps, a, "shape");
    int ok = shape && shape->type == J_ARRAY;
    for (int d = ok ? shape->first_child : -1; d >= 0;
         d = ps.nodes[d].next_sibling) {
      if (arg->rank == CHIMERA_MAX_RANK) {
        ok = 0;
        break;
      }
      arg->shape[arg->rank++] = symbolic_dim(&ps.nodes[d], &ok);
    }
    if (!ok) {
      status = chimera_fail(CHIMERA_ERROR_FORMAT, "%s: argument '%s' has a "
                            "malformed 'shape'", path, arg->name);
      goto done;
    }
  }
done:
  free(ps.nodes);
  if (status != CHIMERA_OK)
    chimera_manifest_free(out);
  return status;
}

void chimera_manifest_free(chimera_manifest *manifest) {
  free(manifest->args);
  manifest->args = NULL;
  manifest->num_args = 0;
}
