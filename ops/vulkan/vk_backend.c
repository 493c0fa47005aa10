/* vk_backend.c — the Vulkan compute backend: device, memory, pipelines, recorded programs, runs. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "op_attrs.h"
#include "vk_int.h"
#include "vulkan/vk_spirv.h"

/* Transfers to memory the host cannot map go through a staging buffer of this size. */
#define STAGING_BYTES ((VkDeviceSize)4 << 20)
/* A run that takes longer than this is reported as a hung device rather than waited on
 * forever: ten minutes, far beyond any step of the canonical models, even on lavapipe. */
#define FENCE_TIMEOUT_NS 600000000000ull
#define VMSG_CAP 1024
/* Distinct optimizer control tensors a plan may have (one in practice: train.ctl). */
#define MAX_CTL 8

struct ntg_backend {
    ntg_backend_config cfg;
    VkInstance inst;
    VkDebugUtilsMessengerEXT msgr;
    int validation;
    long vcount, vchecked; /* validation messages seen, and reported so far */
    char vfirst[VMSG_CAP];
    VkPhysicalDevice pdev;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    int subgroups;   /* the _sg builds */
    int serial;      /* the _serial builds of line reductions (CPU devices) */
    int f64;         /* the _f64 builds (shaderFloat64) */
    int direct_gemm; /* gemm_direct rather than the tiled gemm */
    int force_staging;
    uint32_t qfam;
    VkDevice dev;
    VkQueue queue;
    VkCommandPool pool;
    VkCommandBuffer xfer;
    VkFence fence;
    ntg_buffer *staging, *dummy;
    /* the prepared plan */
    const ntg_plan_view *plan;
    ntg_buffer *storage[NTG_STORE_COUNT];
    ntg_buffer *scratch, *params, *indirect;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkDescriptorPool dpool;
    VkDescriptorSet set;
    VkShaderModule mods[NTG_VK_PIPE_COUNT];
    VkPipeline pipes[NTG_VK_PIPE_COUNT];
    ntg__vk_disp *disp;
    uint32_t nd, capd;
    ntg__vk_range *ranges;
    uint32_t nr, capr;
    uint32_t *sink, sink_cap;
    ntg__vk_prog *progs;
    uint32_t n_progs; /* not plan->n_programs: a re-prepare may follow the old plan's end */
    ntg__vk_opnd *opnd;
    uint64_t scratch_floats, scratch_region; /* scratch size, its largest region (floats) */
    /* descriptor windows of each storage: slots slot0 .. slot0 + nwin - 1, window k at byte
     * k * step, each at most win_range bytes (one window unless the storage is larger than
     * maxStorageBufferRange) */
    uint32_t slot0[NTG_STORE_COUNT], nwin[NTG_STORE_COUNT];
    uint64_t step[NTG_STORE_COUNT], win_range[NTG_STORE_COUNT], sto_bytes[NTG_STORE_COUNT];
    uint32_t total_words;
    uint64_t up_bytes, down_bytes; /* host <-> device traffic, for tests */
    /* the control tensors of the plan's Adam ops and what was last uploaded to them */
    struct {
        uint32_t sto, off; /* element offset */
        float v[NTG_CTL_SIZE];
    } ctl[MAX_CTL];
    int n_ctl;
    float ctl_zero[NTG_CTL_SIZE];
    /* NTG_VULKAN_PROFILE=1: a timestamp around every dispatch, summed per pipeline and
     * printed to stderr when the instance is destroyed */
    int profile;
    VkQueryPool qpool;
    uint64_t *stamps;
    double pipe_ns[NTG_VK_PIPE_COUNT];
    uint64_t pipe_calls[NTG_VK_PIPE_COUNT];
    double run_ns;
    uint64_t runs;
};

static const struct {
    const char *name;
    int builds;
} pipe_info[NTG_VK_PIPE_COUNT] = {
#define NTG_VK_PIPE(name, builds) {#name, builds},
#include "vk_pipes.def"
#undef NTG_VK_PIPE
};

/* ---------------------------------------------------------------- errors */

static const char *vk_str(VkResult r)
{
    switch (r) {
    case VK_SUCCESS:
        return "VK_SUCCESS";
    case VK_NOT_READY:
        return "VK_NOT_READY";
    case VK_TIMEOUT:
        return "VK_TIMEOUT";
    case VK_INCOMPLETE:
        return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
        return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
        return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
        return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
        return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
        return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
        return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
        return "VK_ERROR_TOO_MANY_OBJECTS";
    default:
        return "VkResult error";
    }
}

/* A failed Vulkan call: NTG_ERR_NOMEM for memory, NTG_ERR_BACKEND otherwise (device loss
 * included), with the call and the result in the message. */
static ntg_status vk_fail(ntg_error *err, VkResult r, const char *what)
{
    ntg_status st = r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY
                        ? NTG_ERR_NOMEM
                        : NTG_ERR_BACKEND;
    if (r == VK_ERROR_DEVICE_LOST)
        return ntg__fail(err, st, "vulkan: the device was lost (%s)", what);
    return ntg__fail(err, st, "vulkan: %s failed: %s (%d)", what, vk_str(r), (int)r);
}

#define VK_TRY(call, what)                                                                         \
    do {                                                                                           \
        VkResult r_ = (call);                                                                      \
        if (r_ != VK_SUCCESS) return vk_fail(err, r_, (what));                                     \
    } while (0)

/* ------------------------------------------------------------- validation */

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    ntg_backend *b = user;
    (void)types;
    if (!(sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                 VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)))
        return VK_FALSE;
    const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
    if (b->vcount++ == 0) ntg__strfmt(b->vfirst, sizeof b->vfirst, "%s", msg);
    fprintf(stderr, "ntgraph vulkan validation: %s\n", msg);
    return VK_FALSE;
}

static int has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkLayerProperties *l = calloc(n, sizeof *l);
    int found = 0;
    if (l && vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= strcmp(l[i].layerName, name) == 0;
    free(l);
    return found;
}

static int env_on(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* An instance for Vulkan 1.1; with the validation layer and a messenger counting into b
 * when b is given and NTG_VULKAN_VALIDATION is set. */
static ntg_status make_instance(ntg_backend *b, VkInstance *out, ntg_error *err)
{
    static const char *const layer = "VK_LAYER_KHRONOS_validation";
    static const char *const ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "ntgraph";
    app.pEngineName = "ntgraph";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    VkDebugUtilsMessengerCreateInfoEXT mi = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    int validation = b && env_on("NTG_VULKAN_VALIDATION");
    if (validation) {
        if (!has_layer(layer))
            return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                             "vulkan: NTG_VULKAN_VALIDATION is set but %s is not installed "
                             "(Debian: vulkan-validationlayers)",
                             layer);
        mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                             VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
        mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
        mi.pfnUserCallback = on_message;
        mi.pUserData = b;
        /* chained so that instance creation and destruction are checked too */
        ci.pNext = &mi;
        ci.enabledLayerCount = 1;
        ci.ppEnabledLayerNames = &layer;
        ci.enabledExtensionCount = 1;
        ci.ppEnabledExtensionNames = &ext;
    }
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
        return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                         "no Vulkan driver found (vkCreateInstance: %s); install one, e.g. "
                         "Mesa's lavapipe (mesa-vulkan-drivers)",
                         vk_str(r));
    VK_TRY(r, "vkCreateInstance");
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                *out, "vkCreateDebugUtilsMessengerEXT");
        if (!create) {
            vkDestroyInstance(*out, NULL);
            return ntg__fail(err, NTG_ERR_UNSUPPORTED, "vulkan: no vkCreateDebugUtilsMessengerEXT");
        }
        r = create(*out, &mi, NULL, &b->msgr);
        if (r != VK_SUCCESS) {
            vkDestroyInstance(*out, NULL);
            return vk_fail(err, r, "vkCreateDebugUtilsMessengerEXT");
        }
        b->validation = 1;
    }
    return NTG_OK;
}

/* ---------------------------------------------------------- device choice */

static const char *type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return "cpu";
    default:
        return "other";
    }
}

/* Discrete before integrated before virtual before CPU (lavapipe, type CPU, comes last). */
static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return 1;
    default:
        return 0;
    }
}

static int icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* What the backend needs of a device; NULL when it has it, else what is missing. */
static const char *unusable(VkPhysicalDevice pd, uint32_t *qfam)
{
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    if (VK_API_VERSION_MAJOR(p.apiVersion) == 1 && VK_API_VERSION_MINOR(p.apiVersion) < 1)
        return "needs Vulkan 1.1";
    VkPhysicalDeviceFeatures f;
    vkGetPhysicalDeviceFeatures(pd, &f);
    if (!f.shaderStorageBufferArrayDynamicIndexing)
        return "lacks shaderStorageBufferArrayDynamicIndexing";
    if (p.limits.maxPerStageDescriptorStorageBuffers < NTG_VK_SLOTS + 1 ||
        p.limits.maxDescriptorSetStorageBuffers < NTG_VK_SLOTS + 1)
        return "binds fewer than 17 storage buffers";
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties q[16];
    if (n > 16) n = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    for (uint32_t i = 0; i < n; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            *qfam = i;
            return NULL;
        }
    return "has no compute queue";
}

/*
 * Pick a device: NTG_VULKAN_DEVICE (an index, or a substring of the name) when set, else the
 * best type.  `info` gets one line on the choice; *rank the chosen device's type rank.
 */
static ntg_status choose_device(VkInstance inst, VkPhysicalDevice *out, uint32_t *qfam, int *rank,
                                char *info, size_t cap, ntg_error *err)
{
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (r != VK_SUCCESS) return vk_fail(err, r, "vkEnumeratePhysicalDevices");
    if (n == 0) {
        ntg__strfmt(info, cap, "the Vulkan loader found no device");
        return ntg__fail(err, NTG_ERR_UNSUPPORTED, "vulkan: the loader found no device");
    }
    VkPhysicalDevice devs[32];
    if (n > 32) n = 32;
    r = vkEnumeratePhysicalDevices(inst, &n, devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vk_fail(err, r, "vkEnumeratePhysicalDevices");
    const char *want = getenv("NTG_VULKAN_DEVICE");
    int best = -1, best_rank = -1;
    uint32_t best_q = 0;
    const char *why = NULL;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        uint32_t q = 0;
        const char *bad = unusable(devs[i], &q);
        if (want && want[0]) {
            char *end;
            long idx = strtol(want, &end, 10);
            int match = *end == '\0' ? idx == (long)i : icontains(p.deviceName, want);
            if (!match) continue;
            if (bad) {
                why = bad;
                continue;
            }
            best = (int)i;
            best_q = q;
            best_rank = type_rank(p.deviceType);
            break;
        }
        if (bad) {
            why = bad;
            continue;
        }
        if (type_rank(p.deviceType) > best_rank) {
            best = (int)i;
            best_q = q;
            best_rank = type_rank(p.deviceType);
        }
    }
    if (best < 0) {
        if (want && want[0] && !why)
            ntg__strfmt(info, cap, "NTG_VULKAN_DEVICE=%s matches none of the %u device(s)", want,
                        n);
        else
            ntg__strfmt(info, cap, "no usable Vulkan device (%s)", why ? why : "none");
        return ntg__fail(err, NTG_ERR_UNSUPPORTED, "vulkan: %s", info);
    }
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devs[best], &p);
    ntg__strfmt(info, cap, "%s (%s, Vulkan %u.%u, device %d of %u)%s", p.deviceName,
                type_name(p.deviceType), VK_API_VERSION_MAJOR(p.apiVersion),
                VK_API_VERSION_MINOR(p.apiVersion), best, n,
                best_rank < 2 ? "; auto does not pick a CPU device" : "");
    /* the others too, so that `ntgraph backends` shows what NTG_VULKAN_DEVICE can pick */
    for (uint32_t i = 0; i < n; i++) {
        if ((int)i == best) continue;
        VkPhysicalDeviceProperties q;
        vkGetPhysicalDeviceProperties(devs[i], &q);
        size_t len = strlen(info);
        ntg__strfmt(info + len, cap - len, "; also device %u: %s (%s)", i, q.deviceName,
                    type_name(q.deviceType));
    }
    *out = devs[best];
    *qfam = best_q;
    *rank = best_rank;
    return NTG_OK;
}

/* 1: a GPU; 2: only a CPU implementation (usable when asked for, never picked by auto);
 * 0: no driver or device. */
static int vk_available(char *info, size_t cap)
{
    VkInstance inst;
    ntg_error err;
    if (make_instance(NULL, &inst, &err)) {
        ntg__strfmt(info, cap, "%s", err.message);
        return 0;
    }
    VkPhysicalDevice pd;
    uint32_t q;
    int rank = 0;
    ntg_status st = choose_device(inst, &pd, &q, &rank, info, cap, &err);
    vkDestroyInstance(inst, NULL);
    if (st) return 0;
    return rank >= 2 ? 1 : 2;
}

/* ------------------------------------------------------------- memory */

static int32_t mem_type(const ntg_backend *b, uint32_t bits, VkMemoryPropertyFlags need,
                        VkMemoryPropertyFlags prefer)
{
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < b->mem.memoryTypeCount; i++) {
            VkMemoryPropertyFlags f = b->mem.memoryTypes[i].propertyFlags;
            VkMemoryPropertyFlags w = pass == 0 ? need | prefer : need;
            if ((bits & (1u << i)) && (f & w) == w) return (int32_t)i;
        }
    return -1;
}

enum { BUF_DEVICE, BUF_HOST };

static void buf_destroy(ntg_backend *b, ntg_buffer *buf)
{
    if (!buf) return;
    if (buf->map) vkUnmapMemory(b->dev, buf->mem);
    if (buf->buf) vkDestroyBuffer(b->dev, buf->buf, NULL);
    if (buf->mem) vkFreeMemory(b->dev, buf->mem, NULL);
    free(buf);
}

/* A buffer of `size` bytes: BUF_DEVICE in device-local memory (mapped when that memory is
 * host-visible and coherent, as on lavapipe and integrated GPUs, unless staging is forced),
 * BUF_HOST in host-visible coherent memory, always mapped. */
static ntg_status buf_create(ntg_backend *b, VkDeviceSize size, VkBufferUsageFlags usage, int kind,
                             ntg_buffer **out, ntg_error *err)
{
    ntg_buffer *buf = calloc(1, sizeof *buf);
    if (!buf) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    buf->size = (size_t)size;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = size ? size : 4;
    bi.usage = usage;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    VkResult r = vkCreateBuffer(b->dev, &bi, NULL, &buf->buf);
    if (r != VK_SUCCESS) {
        free(buf);
        return vk_fail(err, r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(b->dev, buf->buf, &req);
    const VkMemoryPropertyFlags hv =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int32_t t = kind == BUF_DEVICE
                    ? mem_type(b, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0)
                    : mem_type(b, req.memoryTypeBits, hv, VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
    if (t < 0 && kind == BUF_DEVICE) t = mem_type(b, req.memoryTypeBits, 0, 0);
    if (t < 0) {
        buf_destroy(b, buf);
        return ntg__fail(err, NTG_ERR_BACKEND, "vulkan: no memory type for a %s buffer",
                         kind == BUF_DEVICE ? "device" : "host-visible");
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = req.size;
    ai.memoryTypeIndex = (uint32_t)t;
    r = vkAllocateMemory(b->dev, &ai, NULL, &buf->mem);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(b->dev, buf->buf, buf->mem, 0);
    VkMemoryPropertyFlags f = b->mem.memoryTypes[t].propertyFlags;
    int mappable = (f & hv) == hv && (kind == BUF_HOST || !b->force_staging);
    if (r == VK_SUCCESS && mappable)
        r = vkMapMemory(b->dev, buf->mem, 0, VK_WHOLE_SIZE, 0, &buf->map);
    if (r != VK_SUCCESS) {
        buf_destroy(b, buf);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return ntg__fail(err, NTG_ERR_NOMEM, "vulkan: cannot allocate %llu bytes (%s)",
                             (unsigned long long)size, vk_str(r));
        return vk_fail(err, r, "vkAllocateMemory/vkMapMemory");
    }
    *out = buf;
    return NTG_OK;
}

/* ------------------------------------------------------------ transfers */

static ntg_status submit_wait(ntg_backend *b, VkCommandBuffer cmd, const char *what, ntg_error *err)
{
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    VK_TRY(vkResetFences(b->dev, 1, &b->fence), "vkResetFences");
    VK_TRY(vkQueueSubmit(b->queue, 1, &si, b->fence), what);
    VkResult r = vkWaitForFences(b->dev, 1, &b->fence, VK_TRUE, FENCE_TIMEOUT_NS);
    if (r == VK_TIMEOUT)
        return ntg__fail(err, NTG_ERR_BACKEND, "vulkan: %s did not finish in %llu s", what,
                         (unsigned long long)(FENCE_TIMEOUT_NS / 1000000000ull));
    VK_TRY(r, what);
    return NTG_OK;
}

/* Barrier over every earlier transfer and compute access before / after the next ones. */
static void all_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags sa,
                        VkPipelineStageFlags dst, VkAccessFlags da)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = sa;
    mb.dstAccessMask = da;
    vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

enum { XF_UP, XF_DOWN, XF_ZERO };

/* One transfer recorded into the transfer command buffer and waited for. */
static ntg_status transfer(ntg_backend *b, int kind, VkBuffer dev, VkDeviceSize off,
                           VkDeviceSize size, ntg_error *err)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VK_TRY(vkResetCommandBuffer(b->xfer, 0), "vkResetCommandBuffer");
    VK_TRY(vkBeginCommandBuffer(b->xfer, &bi), "vkBeginCommandBuffer");
    all_barrier(b->xfer, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
    if (kind == XF_ZERO) {
        vkCmdFillBuffer(b->xfer, dev, off, size, 0);
    } else {
        VkBufferCopy c = {0, 0, size};
        if (kind == XF_UP) {
            c.dstOffset = off;
            vkCmdCopyBuffer(b->xfer, b->staging->buf, dev, 1, &c);
        } else {
            c.srcOffset = off;
            vkCmdCopyBuffer(b->xfer, dev, b->staging->buf, 1, &c);
        }
    }
    all_barrier(b->xfer, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                    VK_PIPELINE_STAGE_HOST_BIT,
                VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                    VK_ACCESS_HOST_READ_BIT);
    VK_TRY(vkEndCommandBuffer(b->xfer), "vkEndCommandBuffer");
    return submit_wait(b, b->xfer, "a transfer", err);
}

static ntg_status need_staging(ntg_backend *b, ntg_error *err)
{
    if (b->staging) return NTG_OK;
    return buf_create(b, STAGING_BYTES,
                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT, BUF_HOST,
                      &b->staging, err);
}

/* ------------------------------------------------------------- create */

static void vk_destroy(ntg_backend *b);

static ntg_status vk_create(const ntg_backend_config *cfg, ntg_backend **out, ntg_error *err)
{
    ntg_backend *b = calloc(1, sizeof *b);
    if (!b) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    b->cfg = *cfg;
    b->profile = env_on("NTG_VULKAN_PROFILE");
    char info[256];
    int rank;
    ntg_status st = make_instance(b, &b->inst, err);
    if (!st) st = choose_device(b->inst, &b->pdev, &b->qfam, &rank, info, sizeof info, err);
    if (st) {
        vk_destroy(b);
        return st;
    }
    vkGetPhysicalDeviceProperties(b->pdev, &b->props);
    vkGetPhysicalDeviceMemoryProperties(b->pdev, &b->mem);
    VkPhysicalDeviceSubgroupProperties sp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sp;
    vkGetPhysicalDeviceProperties2(b->pdev, &p2);
    VkSubgroupFeatureFlags want_sg =
        VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    /* on a CPU device a workgroup barrier costs more than the memory traffic tiles save */
    b->direct_gemm = b->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    b->serial = b->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    b->subgroups = (sp.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                   (sp.supportedOperations & want_sg) == want_sg;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = b->qfam;
    qi.queueCount = 1;
    qi.pQueuePriorities = &prio;
    VkPhysicalDeviceFeatures have, feat;
    vkGetPhysicalDeviceFeatures(b->pdev, &have);
    memset(&feat, 0, sizeof feat);
    feat.shaderStorageBufferArrayDynamicIndexing = VK_TRUE;
    /* double where the reference computes in double (sums, optimizer updates, loss gradients) */
    feat.shaderFloat64 = have.shaderFloat64;
    b->f64 = have.shaderFloat64 == VK_TRUE;
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    di.queueCreateInfoCount = 1;
    di.pQueueCreateInfos = &qi;
    di.pEnabledFeatures = &feat;
    VkResult r = vkCreateDevice(b->pdev, &di, NULL, &b->dev);
    if (r != VK_SUCCESS) {
        vk_destroy(b);
        return vk_fail(err, r, "vkCreateDevice");
    }
    vkGetDeviceQueue(b->dev, b->qfam, 0, &b->queue);
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = b->qfam;
    r = vkCreateCommandPool(b->dev, &pi, NULL, &b->pool);
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = b->pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    if (r == VK_SUCCESS) r = vkAllocateCommandBuffers(b->dev, &ai, &b->xfer);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS) r = vkCreateFence(b->dev, &fi, NULL, &b->fence);
    if (r != VK_SUCCESS) {
        vk_destroy(b);
        return vk_fail(err, r, "creating the command pool and fence");
    }
    /* the descriptor of a storage the plan lacks */
    st = buf_create(b, 256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, BUF_DEVICE, &b->dummy, err);
    if (st) {
        vk_destroy(b);
        return st;
    }
    *out = b;
    return NTG_OK;
}

static void release_plan(ntg_backend *b)
{
    if (!b->dev) return;
    for (int i = 0; i < NTG_VK_PIPE_COUNT; i++) {
        if (b->pipes[i]) vkDestroyPipeline(b->dev, b->pipes[i], NULL);
        if (b->mods[i]) vkDestroyShaderModule(b->dev, b->mods[i], NULL);
        b->pipes[i] = VK_NULL_HANDLE;
        b->mods[i] = VK_NULL_HANDLE;
    }
    if (b->progs)
        for (uint32_t g = 0; g < b->n_progs; g++)
            if (b->progs[g].cmd) vkFreeCommandBuffers(b->dev, b->pool, 1, &b->progs[g].cmd);
    if (b->qpool) vkDestroyQueryPool(b->dev, b->qpool, NULL);
    b->qpool = VK_NULL_HANDLE;
    free(b->stamps);
    b->stamps = NULL;
    if (b->dpool) vkDestroyDescriptorPool(b->dev, b->dpool, NULL);
    if (b->layout) vkDestroyPipelineLayout(b->dev, b->layout, NULL);
    if (b->dsl) vkDestroyDescriptorSetLayout(b->dev, b->dsl, NULL);
    b->dpool = VK_NULL_HANDLE;
    b->layout = VK_NULL_HANDLE;
    b->dsl = VK_NULL_HANDLE;
    buf_destroy(b, b->scratch);
    buf_destroy(b, b->params);
    buf_destroy(b, b->indirect);
    b->scratch = b->params = b->indirect = NULL;
    free(b->disp);
    free(b->ranges);
    free(b->sink);
    free(b->progs);
    free(b->opnd);
    b->disp = NULL;
    b->ranges = NULL;
    b->sink = NULL;
    b->progs = NULL;
    b->opnd = NULL;
    b->nd = b->capd = b->nr = b->capr = b->sink_cap = b->n_progs = 0;
    b->plan = NULL;
}

static void print_profile(const ntg_backend *b)
{
    if (!b->profile || !b->runs) return;
    fprintf(stderr, "ntgraph vulkan profile (%s): %llu runs, %.3f ms per run (submit to fence)\n",
            b->props.deviceName, (unsigned long long)b->runs, b->run_ns / 1e6 / (double)b->runs);
    for (int p = 0; p < NTG_VK_PIPE_COUNT; p++)
        if (b->pipe_calls[p])
            fprintf(stderr, "  %-24s %8llu dispatches %10.3f ms total %8.1f us each\n",
                    pipe_info[p].name, (unsigned long long)b->pipe_calls[p], b->pipe_ns[p] / 1e6,
                    b->pipe_ns[p] / 1e3 / (double)b->pipe_calls[p]);
}

static void vk_destroy(ntg_backend *b)
{
    if (!b) return;
    print_profile(b);
    if (b->dev) vkDeviceWaitIdle(b->dev);
    release_plan(b);
    if (b->dev) {
        buf_destroy(b, b->staging);
        buf_destroy(b, b->dummy);
        if (b->fence) vkDestroyFence(b->dev, b->fence, NULL);
        if (b->pool) vkDestroyCommandPool(b->dev, b->pool, NULL);
        vkDestroyDevice(b->dev, NULL);
    }
    if (b->msgr) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                b->inst, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(b->inst, b->msgr, NULL);
    }
    if (b->inst) vkDestroyInstance(b->inst, NULL);
    if (b->validation && b->vcount > b->vchecked)
        fprintf(stderr, "ntgraph vulkan: %ld validation message(s); the first: %s\n", b->vcount,
                b->vfirst);
    free(b);
}

static int vk_supports(const ntg_backend *b, uint32_t code, int dir, int dtype)
{
    (void)b;
    if (code >= NTG_OP_COUNT || dtype != NTG_DTYPE_F32) return 0;
    return dir == NTG_DIR_FWD ? ntg__vk_emit_fwd[code] != NULL : ntg__vk_emit_bwd[code] != NULL;
}

/* ------------------------------------------------------------- buffers */

static ntg_status vk_buffer_alloc(ntg_backend *b, size_t size, ntg_buffer **out, ntg_error *err)
{
    VkDeviceSize rounded = ((VkDeviceSize)size + 255) & ~(VkDeviceSize)255;
    ntg_status st =
        buf_create(b, rounded,
                   VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                   BUF_DEVICE, out, err);
    if (st) return st;
    (*out)->size = size;
    /* zeroed, as the session expects of the optimizer state */
    if ((*out)->map) {
        memset((*out)->map, 0, (size_t)rounded);
        return NTG_OK;
    }
    st = transfer(b, XF_ZERO, (*out)->buf, 0, rounded, err);
    if (st) {
        buf_destroy(b, *out);
        *out = NULL;
    }
    return st;
}

static void vk_buffer_free(ntg_backend *b, ntg_buffer *buf)
{
    if (!buf) return;
    /* nothing runs between calls (every submission is waited for) */
    buf_destroy(b, buf);
}

static ntg_status vk_upload(ntg_backend *b, ntg_buffer *dst, size_t offset, const void *src,
                            size_t size, ntg_error *err)
{
    if (offset > dst->size || size > dst->size - offset)
        return ntg__fail(err, NTG_ERR_RANGE, "upload of %zu bytes at %zu outside a %zu-byte buffer",
                         size, offset, dst->size);
    b->up_bytes += size;
    for (int i = 0; i < b->n_ctl; i++) {
        /* the bytes of a control tensor this upload covers (Adam's factors, SHADERS.md) */
        size_t lo = (size_t)b->ctl[i].off * 4, hi = lo + sizeof b->ctl[i].v;
        size_t a = offset > lo ? offset : lo, z = offset + size < hi ? offset + size : hi;
        if (dst == b->storage[b->ctl[i].sto] && a < z)
            memcpy((uint8_t *)b->ctl[i].v + (a - lo), (const uint8_t *)src + (a - offset), z - a);
    }
    if (dst->map) {
        memcpy((uint8_t *)dst->map + offset, src, size);
        return NTG_OK;
    }
    ntg_status st = need_staging(b, err);
    for (size_t done = 0; !st && done < size; done += (size_t)STAGING_BYTES) {
        size_t n = size - done < (size_t)STAGING_BYTES ? size - done : (size_t)STAGING_BYTES;
        memcpy(b->staging->map, (const uint8_t *)src + done, n);
        /* vkCmdCopyBuffer wants 4-byte aligned sizes only for fills; copies take any */
        st = transfer(b, XF_UP, dst->buf, offset + done, n, err);
    }
    return st;
}

static ntg_status vk_download(ntg_backend *b, const ntg_buffer *src, size_t offset, void *dst,
                              size_t size, ntg_error *err)
{
    if (offset > src->size || size > src->size - offset)
        return ntg__fail(err, NTG_ERR_RANGE,
                         "download of %zu bytes at %zu outside a %zu-byte buffer", size, offset,
                         src->size);
    b->down_bytes += size;
    if (src->map) {
        memcpy(dst, (const uint8_t *)src->map + offset, size);
        return NTG_OK;
    }
    ntg_status st = need_staging(b, err);
    for (size_t done = 0; !st && done < size; done += (size_t)STAGING_BYTES) {
        size_t n = size - done < (size_t)STAGING_BYTES ? size - done : (size_t)STAGING_BYTES;
        st = transfer(b, XF_DOWN, src->buf, offset + done, n, err);
        if (!st) memcpy((uint8_t *)dst + done, b->staging->map, n);
    }
    return st;
}

/* ------------------------------------------------------ planning records */

ntg_status ntg__vk_plan_push(ntg_backend *b, const ntg__vk_disp *d, ntg_error *err)
{
    if (b->nd == b->capd) {
        uint32_t cap = b->capd ? 2 * b->capd : 256;
        ntg__vk_disp *p = realloc(b->disp, cap * sizeof *p);
        if (!p) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        b->disp = p;
        b->capd = cap;
    }
    b->disp[b->nd++] = *d;
    return NTG_OK;
}

ntg_status ntg__vk_plan_range(ntg_backend *b, const ntg__vk_range *r, ntg_error *err)
{
    if (b->nr == b->capr) {
        uint32_t cap = b->capr ? 2 * b->capr : 1024;
        ntg__vk_range *p = realloc(b->ranges, cap * sizeof *p);
        if (!p) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        b->ranges = p;
        b->capr = cap;
    }
    if (b->nd && b->disp[b->nd - 1].nr == 0) b->disp[b->nd - 1].r0 = b->nr;
    b->ranges[b->nr++] = *r;
    if (b->nd) b->disp[b->nd - 1].nr++;
    return NTG_OK;
}

uint32_t *ntg__vk_plan_sink(ntg_backend *b, uint32_t words, ntg_error *err)
{
    if (words > b->sink_cap) {
        uint32_t *p = realloc(b->sink, (size_t)words * sizeof *p);
        if (!p) {
            ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
            return NULL;
        }
        b->sink = p;
        b->sink_cap = words;
    }
    memset(b->sink, 0, (size_t)words * sizeof *b->sink);
    return b->sink;
}

const ntg__vk_disp *ntg__vk_disp_at(const ntg_backend *b, uint32_t index)
{
    return index < b->nd ? &b->disp[index] : NULL;
}

uint32_t *ntg__vk_words_at(ntg_backend *b, uint32_t index)
{
    return (uint32_t *)b->params->map + b->disp[index].base;
}

uint32_t *ntg__vk_groups_at(ntg_backend *b, uint32_t index)
{
    return (uint32_t *)b->indirect->map + 3 * (size_t)index;
}

int ntg__vk_direct_gemm(const ntg_backend *b)
{
    return b->direct_gemm;
}

void ntg__vk_set_direct_gemm(ntg_backend *b, int direct)
{
    b->direct_gemm = direct;
}

const uint32_t *ntg__vk_max_groups(const ntg_backend *b)
{
    return b->props.limits.maxComputeWorkGroupCount;
}

/* ------------------------------------------------------------- prepare */

/* The emitter context of op `k` at `batch`. */
static void ctx_op(ntg_backend *b, ntg__vk_ctx *e, uint32_t k, int batch)
{
    const ntg_plan_view *plan = b->plan;
    const ntg_op_rec *op = &plan->ops[k];
    e->op = op;
    e->op_index = k;
    e->attr = plan->attrs + op->attrs;
    e->batch = batch;
    e->n_in = op->n_in;
    e->n_out = op->n_out;
    e->in = b->opnd;
    e->out = b->opnd + op->n_in;
    e->scratch_top = 0;
    for (int i = 0; i < op->n_in + op->n_out; i++) {
        ntg__vk_opnd *o = &b->opnd[i];
        uint32_t id = plan->operands[op->operands + (uint32_t)i];
        memset(o, 0, sizeof *o);
        if (id == NTG_NONE) continue;
        const ntg_tensor_rec *t = &plan->tensors[id];
        ntg__tdesc_from_rec(t, &o->d);
        if (o->d.batched) o->d.dims[0] = batch;
        if (t->storage == NTG_STORE_NONE) continue;
        o->present = 1;
        o->has_value = ntg__bwd_has_value(op, i);
        o->sto = t->storage;
        o->off = (uint32_t)(t->offset / 4);
        o->max_bytes = t->nbytes;
    }
}

static ntg_status emit_op(ntg_backend *b, ntg__vk_ctx *e, uint32_t k, int batch)
{
    ctx_op(b, e, k, batch);
    const ntg_op_rec *op = e->op;
    ntg__vk_emit_fn fn =
        op->code < NTG_OP_COUNT
            ? (op->dir == NTG_DIR_FWD ? ntg__vk_emit_fwd[op->code] : ntg__vk_emit_bwd[op->code])
            : NULL;
    if (!fn)
        return ntg__fail(e->err, NTG_ERR_UNSUPPORTED, "vulkan: no kernel for op %u (%s)", op->code,
                         op->dir ? "backward" : "forward");
    e->status = NTG_OK;
    ntg_status st = fn(e);
    if (e->scratch_top > b->scratch_floats) b->scratch_floats = e->scratch_top;
    if (e->scratch_region > b->scratch_region) b->scratch_region = e->scratch_region;
    return st;
}

static int overlaps(const ntg__vk_range *a, const ntg__vk_range *c)
{
    return a->sto == c->sto && a->lo < c->hi && c->lo < a->hi;
}

/* A barrier before every dispatch that touches what an earlier one since the last barrier
 * wrote, or writes what it read (SHADERS.md §3). */
static void place_barriers(ntg_backend *b, const ntg__vk_prog *pg)
{
    uint32_t pend0 = pg->d0; /* dispatches [pend0, d) are the ones since the last barrier */
    for (uint32_t d = pg->d0; d < pg->d0 + pg->nd; d++) {
        ntg__vk_disp *cur = &b->disp[d];
        int hazard = 0;
        for (uint32_t p = pend0; p < d && !hazard; p++)
            for (uint32_t i = 0; i < b->disp[p].nr && !hazard; i++)
                for (uint32_t j = 0; j < cur->nr && !hazard; j++) {
                    const ntg__vk_range *x = &b->ranges[b->disp[p].r0 + i];
                    const ntg__vk_range *y = &b->ranges[cur->r0 + j];
                    hazard = (x->write || y->write) && overlaps(x, y);
                }
        cur->barrier = hazard;
        if (hazard) pend0 = d;
    }
}

static ntg_status make_pipeline(ntg_backend *b, int p, ntg_error *err)
{
    char name[64];
    int serial = (pipe_info[p].builds & 2) && b->serial;
    int sg = !serial && (pipe_info[p].builds & 1) && b->subgroups;
    int f64 = (pipe_info[p].builds & 4) && b->f64;
    ntg__strfmt(name, sizeof name, "%s%s", pipe_info[p].name,
                serial ? "_serial"
                : sg   ? "_sg"
                : f64  ? "_f64"
                       : "");
    const ntg__vk_spirv *code = NULL;
    for (int i = 0; i < NTG_VK_SPIRV_COUNT; i++)
        if (strcmp(ntg__vk_spirv_table[i].name, name) == 0) code = &ntg__vk_spirv_table[i];
    if (!code) return ntg__fail(err, NTG_ERR_INTERNAL, "vulkan: shader %s is not embedded", name);
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = code->bytes;
    mi.pCode = code->code;
    VK_TRY(vkCreateShaderModule(b->dev, &mi, NULL, &b->mods[p]), "vkCreateShaderModule");
    VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = b->mods[p];
    ci.stage.pName = "main";
    ci.layout = b->layout;
    VK_TRY(vkCreateComputePipelines(b->dev, VK_NULL_HANDLE, 1, &ci, NULL, &b->pipes[p]),
           "vkCreateComputePipelines");
    return NTG_OK;
}

/*
 * Descriptor windows of every storage (SHADERS.md §1).  A storage the device can bind whole is
 * one slot, its own index.  A larger one is bound as overlapping windows of maxStorageBufferRange
 * bytes, `step` apart, step = the range less the largest tensor (aligned down): every tensor
 * then lies whole in the window where it starts, so a shader addresses it through one slot.
 */
static ntg_status make_windows(ntg_backend *b, ntg_error *err)
{
    const ntg_plan_view *plan = b->plan;
    uint64_t range = b->props.limits.maxStorageBufferRange;
    uint64_t align = b->props.limits.minStorageBufferOffsetAlignment;
    uint64_t biggest[NTG_STORE_COUNT] = {0};
    if (align < 4) align = 4;
    range -= range % align;
    for (uint32_t i = 0; i < plan->n_tensors; i++) {
        const ntg_tensor_rec *t = &plan->tensors[i];
        if (t->storage < NTG_STORE_COUNT && t->nbytes > biggest[t->storage])
            biggest[t->storage] = t->nbytes;
    }
    biggest[0] = b->scratch_region * 4;
    b->sto_bytes[0] = b->scratch_floats * 4;
    for (int s = 1; s < NTG_STORE_COUNT; s++) b->sto_bytes[s] = plan->storage_bytes[s];
    int windowed = 0;
    for (int s = 0; s < NTG_STORE_COUNT; s++) {
        windowed |= b->sto_bytes[s] > range;
        /* shaders index elements with 32 bits */
        if (b->sto_bytes[s] > ((uint64_t)1 << 34))
            return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                             "vulkan: a storage of %llu bytes is more than 2^32 floats",
                             (unsigned long long)b->sto_bytes[s]);
    }
    uint32_t next = windowed ? 0 : NTG_STORE_COUNT;
    for (int s = 0; s < NTG_STORE_COUNT; s++) {
        uint64_t size = b->sto_bytes[s];
        b->nwin[s] = 1;
        b->step[s] = 0;
        b->win_range[s] = range;
        b->slot0[s] = (uint32_t)s;
        if (!windowed) continue;
        b->slot0[s] = next;
        if (size > range) {
            if (biggest[s] + align > range)
                return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                                 "vulkan: a tensor of %llu bytes is larger than %s can bind "
                                 "(maxStorageBufferRange %llu bytes); use a smaller maximum batch",
                                 (unsigned long long)biggest[s], b->props.deviceName,
                                 (unsigned long long)range);
            b->step[s] = (range - biggest[s]) / align * align;
            b->nwin[s] = 1 + (uint32_t)((size - range + b->step[s] - 1) / b->step[s]);
        }
        next += b->nwin[s];
        if (next > NTG_VK_SLOTS)
            return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                             "vulkan: the plan's storages (%llu bytes of arena) need more than "
                             "%d windows of %s's maxStorageBufferRange (%llu bytes); use a "
                             "smaller maximum batch",
                             (unsigned long long)b->sto_bytes[NTG_STORE_ARENA], NTG_VK_SLOTS,
                             b->props.deviceName, (unsigned long long)range);
    }
    return NTG_OK;
}

void ntg__vk_window(const ntg_backend *b, uint32_t sto, uint64_t at, uint32_t *slot,
                    uint64_t *start)
{
    uint32_t k = b->step[sto] ? (uint32_t)(at / b->step[sto]) : 0;
    if (k >= b->nwin[sto]) k = b->nwin[sto] - 1;
    *slot = b->slot0[sto] + k;
    *start = (uint64_t)k * b->step[sto];
}

static ntg_status make_descriptors(ntg_backend *b, ntg_error *err)
{
    VkDescriptorSetLayoutBinding bind[2];
    memset(bind, 0, sizeof bind);
    bind[0].binding = 0;
    bind[0].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bind[0].descriptorCount = NTG_VK_SLOTS;
    bind[0].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    bind[1].binding = 1;
    bind[1].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bind[1].descriptorCount = 1;
    bind[1].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    VkDescriptorSetLayoutCreateInfo li = {.sType =
                                              VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    li.bindingCount = 2;
    li.pBindings = bind;
    VK_TRY(vkCreateDescriptorSetLayout(b->dev, &li, NULL, &b->dsl), "vkCreateDescriptorSetLayout");
    VkPushConstantRange pc = {VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(uint32_t)};
    VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pli.setLayoutCount = 1;
    pli.pSetLayouts = &b->dsl;
    pli.pushConstantRangeCount = 1;
    pli.pPushConstantRanges = &pc;
    VK_TRY(vkCreatePipelineLayout(b->dev, &pli, NULL, &b->layout), "vkCreatePipelineLayout");
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, NTG_VK_SLOTS + 1};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pi.maxSets = 1;
    pi.poolSizeCount = 1;
    pi.pPoolSizes = &ps;
    VK_TRY(vkCreateDescriptorPool(b->dev, &pi, NULL, &b->dpool), "vkCreateDescriptorPool");
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = b->dpool;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &b->dsl;
    VK_TRY(vkAllocateDescriptorSets(b->dev, &ai, &b->set), "vkAllocateDescriptorSets");
    VkDescriptorBufferInfo bi[NTG_VK_SLOTS + 1];
    for (int k = 0; k < NTG_VK_SLOTS; k++) {
        bi[k].buffer = b->dummy->buf;
        bi[k].offset = 0;
        bi[k].range = VK_WHOLE_SIZE;
    }
    for (int s = 0; s < NTG_STORE_COUNT; s++) {
        const ntg_buffer *buf = s == 0 ? b->scratch : b->storage[s] ? b->storage[s] : b->dummy;
        for (uint32_t k = 0; k < b->nwin[s]; k++) {
            VkDescriptorBufferInfo *d = &bi[b->slot0[s] + k];
            d->buffer = buf->buf;
            d->offset = k * b->step[s];
            d->range = b->nwin[s] == 1 ? VK_WHOLE_SIZE : b->win_range[s];
            if (d->offset + d->range > buf->size) d->range = VK_WHOLE_SIZE;
        }
    }
    bi[NTG_VK_SLOTS].buffer = b->params->buf;
    bi[NTG_VK_SLOTS].offset = 0;
    bi[NTG_VK_SLOTS].range = VK_WHOLE_SIZE;
    VkWriteDescriptorSet w[2];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 2; i++) {
        w[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        w[i].dstSet = b->set;
        w[i].dstBinding = (uint32_t)i;
        w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        w[i].descriptorCount = i == 0 ? NTG_VK_SLOTS : 1;
        w[i].pBufferInfo = i == 0 ? bi : &bi[NTG_VK_SLOTS];
    }
    vkUpdateDescriptorSets(b->dev, 2, w, 0, NULL);
    return NTG_OK;
}

static ntg_status record(ntg_backend *b, ntg__vk_prog *pg, ntg_error *err)
{
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = b->pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VK_TRY(vkAllocateCommandBuffers(b->dev, &ai, &pg->cmd), "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VK_TRY(vkBeginCommandBuffer(pg->cmd, &bi), "vkBeginCommandBuffer");
    /* uploads (copies) finish before the first dispatch reads */
    all_barrier(pg->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    vkCmdBindDescriptorSets(pg->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, b->layout, 0, 1, &b->set, 0,
                            NULL);
    uint32_t bound = UINT32_MAX;
    if (b->qpool) vkCmdResetQueryPool(pg->cmd, b->qpool, 2 * pg->d0, 2 * pg->nd);
    for (uint32_t d = pg->d0; d < pg->d0 + pg->nd; d++) {
        const ntg__vk_disp *x = &b->disp[d];
        if (x->barrier)
            all_barrier(pg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                        VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
        if (x->pipe != bound) {
            vkCmdBindPipeline(pg->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, b->pipes[x->pipe]);
            bound = x->pipe;
        }
        vkCmdPushConstants(pg->cmd, b->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof x->base,
                           &x->base);
        if (b->qpool)
            vkCmdWriteTimestamp(pg->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, b->qpool, 2 * d);
        vkCmdDispatchIndirect(pg->cmd, b->indirect->buf, (VkDeviceSize)d * 3 * sizeof(uint32_t));
        if (b->qpool)
            vkCmdWriteTimestamp(pg->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, b->qpool, 2 * d + 1);
    }
    /* results readable by downloads (copies or the mapped memory) */
    all_barrier(pg->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                    VK_ACCESS_HOST_READ_BIT);
    VK_TRY(vkEndCommandBuffer(pg->cmd), "vkEndCommandBuffer");
    return NTG_OK;
}

/* Words and group counts of program g for `batch` (prepare: planning). */
static ntg_status emit_program(ntg_backend *b, uint32_t g, int batch, int planning, ntg_error *err)
{
    const ntg_program_view *pv = &b->plan->programs[g];
    ntg__vk_prog *pg = &b->progs[g];
    ntg__vk_ctx e;
    memset(&e, 0, sizeof e);
    e.b = b;
    e.plan = b->plan;
    e.planning = planning;
    e.max_batch = b->plan->max_batch;
    e.err = err;
    e.cursor = pg->d0;
    e.end = pg->d0 + pg->nd;
    if (planning) pg->d0 = b->nd;
    for (uint32_t k = 0; k < pv->n_ops; k++) {
        ntg_status st = emit_op(b, &e, pv->ops[k], batch);
        if (st) return st;
    }
    if (planning) {
        pg->nd = b->nd - pg->d0;
    } else if (e.cursor != e.end) {
        return ntg__fail(err, NTG_ERR_INTERNAL,
                         "vulkan: program %s emitted %u dispatches at batch %d, %u at prepare",
                         pv->name, e.cursor - pg->d0, batch, pg->nd);
    }
    pg->batch = planning ? 0 : batch;
    return NTG_OK;
}

static ntg_status vk_prepare(ntg_backend *b, const ntg_plan_view *plan,
                             ntg_buffer *const storage[NTG_STORE_COUNT], ntg_error *err)
{
    release_plan(b);
    b->plan = plan;
    for (int s = 0; s < NTG_STORE_COUNT; s++) b->storage[s] = storage[s];
    uint32_t most = 1;
    for (uint32_t k = 0; k < plan->n_ops; k++) {
        uint32_t n = (uint32_t)plan->ops[k].n_in + plan->ops[k].n_out;
        if (n > most) most = n;
    }
    b->opnd = calloc(most, sizeof *b->opnd);
    b->progs = calloc(plan->n_programs ? plan->n_programs : 1, sizeof *b->progs);
    b->n_progs = plan->n_programs;
    if (!b->opnd || !b->progs) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
    b->n_ctl = 0;
    for (uint32_t k = 0; k < plan->n_ops; k++) {
        const ntg_op_rec *op = &plan->ops[k];
        if (op->code != NTG_OP_adam || op->dir != NTG_DIR_FWD || op->n_in < 5) continue;
        uint32_t id = plan->operands[op->operands + 4];
        if (id == NTG_NONE) continue;
        const ntg_tensor_rec *t = &plan->tensors[id];
        int i = 0;
        while (i < b->n_ctl && !(b->ctl[i].sto == t->storage && b->ctl[i].off == t->offset / 4))
            i++;
        if (i < b->n_ctl) continue;
        if (b->n_ctl == MAX_CTL)
            return ntg__fail(err, NTG_ERR_UNSUPPORTED,
                             "vulkan: more than %d optimizer control tensors", MAX_CTL);
        memset(&b->ctl[i], 0, sizeof b->ctl[i]);
        b->ctl[i].sto = t->storage;
        b->ctl[i].off = (uint32_t)(t->offset / 4);
        b->n_ctl++;
    }
    b->scratch_floats = b->scratch_region = 0;
    for (uint32_t g = 0; g < plan->n_programs; g++) {
        ntg_status st = emit_program(b, g, plan->max_batch, 1, err);
        if (st) return st;
        place_barriers(b, &b->progs[g]);
    }
    uint64_t words = 0;
    for (uint32_t d = 0; d < b->nd; d++) {
        b->disp[d].base = (uint32_t)words;
        words += b->disp[d].words;
    }
    if (words > UINT32_MAX / 4)
        return ntg__fail(err, NTG_ERR_UNSUPPORTED, "vulkan: the plan needs too many parameters");
    b->total_words = (uint32_t)words;
    ntg_status st = make_windows(b, err);
    if (st) return st;
    st = buf_create(b, (b->scratch_floats + 64) * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, BUF_DEVICE,
                    &b->scratch, err);
    if (!st)
        st = buf_create(b, (words + 64) * 4, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, BUF_HOST,
                        &b->params, err);
    if (!st)
        st = buf_create(b, ((VkDeviceSize)b->nd + 1) * 3 * sizeof(uint32_t),
                        VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT, BUF_HOST, &b->indirect, err);
    if (!st) st = make_descriptors(b, err);
    if (!st && b->profile && b->nd && b->props.limits.timestampComputeAndGraphics) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = 2 * b->nd;
        b->stamps = calloc(2 * (size_t)b->nd, sizeof *b->stamps);
        if (!b->stamps) return ntg__fail(err, NTG_ERR_NOMEM, "out of memory");
        VK_TRY(vkCreateQueryPool(b->dev, &qi, NULL, &b->qpool), "vkCreateQueryPool");
    }
    for (uint32_t d = 0; !st && d < b->nd; d++)
        if (!b->pipes[b->disp[d].pipe]) st = make_pipeline(b, (int)b->disp[d].pipe, err);
    for (uint32_t g = 0; !st && g < plan->n_programs; g++) st = record(b, &b->progs[g], err);
    if (!st && b->validation && b->vcount > b->vchecked) {
        b->vchecked = b->vcount;
        return ntg__fail(err, NTG_ERR_BACKEND, "vulkan validation: %s", b->vfirst);
    }
    return st;
}

static ntg_status vk_run(ntg_backend *b, uint32_t program, int batch, ntg_error *err)
{
    if (!b->plan || program >= b->plan->n_programs)
        return ntg__fail(err, NTG_ERR_INTERNAL, "vulkan backend: no such program %u", program);
    ntg__vk_prog *pg = &b->progs[program];
    if (pg->batch != batch) {
        pg->batch = 0; /* half-written words are no one's */
        ntg_status st = emit_program(b, program, batch, 0, err);
        if (st) return st;
    }
    /* Adam's factors depend on the step: from the control tensor's last upload */
    for (uint32_t d = pg->d0; d < pg->d0 + pg->nd; d++) {
        if (b->disp[d].pipe != NTG_VK_PIPE_adam_fwd) continue;
        const ntg_op_rec *op = &b->plan->ops[b->disp[d].op];
        const ntg_tensor_rec *t = &b->plan->tensors[b->plan->operands[op->operands + 4]];
        ntg__vk_adam_words(b->plan->attrs + op->attrs,
                           ntg__vk_ctl_shadow(b, t->storage, (uint32_t)(t->offset / 4)),
                           ntg__vk_words_at(b, d));
    }
    double t0 = b->profile ? now_ns() : 0;
    ntg_status st = submit_wait(b, pg->cmd, "running a program", err);
    if (!st && b->profile) {
        b->run_ns += now_ns() - t0;
        b->runs++;
    }
    if (!st && b->qpool && pg->nd &&
        vkGetQueryPoolResults(b->dev, b->qpool, 2 * pg->d0, 2 * pg->nd,
                              2 * (size_t)pg->nd * sizeof *b->stamps, b->stamps + 2 * pg->d0,
                              sizeof *b->stamps,
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
        for (uint32_t d = pg->d0; d < pg->d0 + pg->nd; d++) {
            b->pipe_ns[b->disp[d].pipe] += (double)(b->stamps[2 * d + 1] - b->stamps[2 * d]) *
                                           (double)b->props.limits.timestampPeriod;
            b->pipe_calls[b->disp[d].pipe]++;
        }
    if (!st && b->validation && b->vcount > b->vchecked) {
        b->vchecked = b->vcount;
        return ntg__fail(err, NTG_ERR_BACKEND, "vulkan validation: %s", b->vfirst);
    }
    return st;
}

/* ------------------------------------------------------------ test hooks */

long ntg__vk_validation_messages(const ntg_backend *b, char *first, size_t cap)
{
    if (first && cap) ntg__strfmt(first, cap, "%s", b->vcount ? b->vfirst : "");
    return b->vcount;
}

long ntg__vk_destroy_checked(ntg_backend *b, char *first, size_t cap)
{
    if (!b) return 0;
    if (first && cap) first[0] = '\0';
    /* everything but the instance, so that messages about leaks at device destruction are
     * still counted */
    if (b->dev) vkDeviceWaitIdle(b->dev);
    release_plan(b);
    if (b->dev) {
        buf_destroy(b, b->staging);
        buf_destroy(b, b->dummy);
        if (b->fence) vkDestroyFence(b->dev, b->fence, NULL);
        if (b->pool) vkDestroyCommandPool(b->dev, b->pool, NULL);
        vkDestroyDevice(b->dev, NULL);
    }
    b->staging = b->dummy = NULL;
    b->fence = VK_NULL_HANDLE;
    b->pool = VK_NULL_HANDLE;
    b->dev = VK_NULL_HANDLE;
    long n = ntg__vk_validation_messages(b, first, cap);
    b->vchecked = b->vcount;
    vk_destroy(b);
    return n;
}

void ntg__vk_provoke_validation(ntg_backend *b)
{
    /* a buffer without usage flags (VUID-VkBufferCreateInfo-usage-requiredbitmask): harmless
     * to the driver, reported by the layer */
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = 16;
    bi.usage = 0;
    VkBuffer buf = VK_NULL_HANDLE;
    if (vkCreateBuffer(b->dev, &bi, NULL, &buf) == VK_SUCCESS) vkDestroyBuffer(b->dev, buf, NULL);
}

void ntg__vk_transfer_bytes(const ntg_backend *b, uint64_t *up, uint64_t *down)
{
    *up = b->up_bytes;
    *down = b->down_bytes;
}

const float *ntg__vk_ctl_shadow(const ntg_backend *b, uint32_t sto, uint32_t off)
{
    for (int i = 0; i < b->n_ctl; i++)
        if (b->ctl[i].sto == sto && b->ctl[i].off == off) return b->ctl[i].v;
    return b->ctl_zero;
}

uint32_t ntg__vk_windows(const ntg_backend *b, int storage)
{
    return b->nwin[storage];
}

void ntg__vk_force_staging(ntg_backend *b)
{
    b->force_staging = 1;
}

int ntg__vk_uses_subgroups(const ntg_backend *b)
{
    return b->subgroups;
}

void ntg__vk_disable_subgroups(ntg_backend *b)
{
    b->subgroups = 0;
}

void ntg__vk_set_serial(ntg_backend *b, int serial)
{
    b->serial = serial;
}

void ntg__vk_set_f64(ntg_backend *b, int f64)
{
    b->f64 = f64 && b->f64;
}

int ntg__vk_f64(const ntg_backend *b)
{
    return b->f64;
}

int ntg__vk_serial(const ntg_backend *b)
{
    return b->serial;
}

const char *ntg__vk_device_name(const ntg_backend *b)
{
    return b->props.deviceName;
}

void ntg__vk_program_stats(const ntg_backend *b, uint32_t program, uint32_t *dispatches,
                           uint32_t *barriers)
{
    *dispatches = *barriers = 0;
    if (!b->plan || program >= b->plan->n_programs) return;
    const ntg__vk_prog *pg = &b->progs[program];
    *dispatches = pg->nd;
    for (uint32_t d = pg->d0; d < pg->d0 + pg->nd; d++) *barriers += (uint32_t)b->disp[d].barrier;
}

const ntg_backend_class ntg__backend_vulkan = {
    "vulkan",
    "Vulkan compute: GLSL shaders, programs recorded once into command buffers",
    vk_available,
    vk_create,
    vk_destroy,
    vk_supports,
    vk_buffer_alloc,
    NULL, /* device memory: the session allocates and uploads */
    vk_buffer_free,
    vk_upload,
    vk_download,
    vk_prepare,
    vk_run,
    NULL,
    NULL, /* run_range: a program is one command buffer; the trainer all-reduces after it */
    NULL, /* run_elems */
};
