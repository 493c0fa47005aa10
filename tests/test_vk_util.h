/* test_vk_util.h — what the Vulkan suites share: lavapipe as the driver, skipping, validation. */
#ifndef NTG_TEST_VK_UTIL_H
#define NTG_TEST_VK_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "vulkan/vk_int.h"

/*
 * The suites run on Mesa's lavapipe wherever it is installed, so that a machine with another
 * driver (a GPU) tests exactly what CI tests: VK_DRIVER_FILES (and the older loaders'
 * VK_ICD_FILENAMES) name the lavapipe ICD unless NTG_VK_TEST_NATIVE=1 asks for the machine's
 * own drivers.  Called at the start of every test (Criterion runs each in its own process).
 */
/* Sanitizer builds: LeakSanitizer reports what Mesa's lavapipe, its LLVM and the validation
 * layer keep until exit (none of it ntgraph's); ntgraph's own leaks are still reported. */
const char *__lsan_default_suppressions(void) __attribute__((visibility("default"), used));
const char *__lsan_default_suppressions(void)
{
    return "leak:libvulkan_lvp.so\nleak:libLLVM\nleak:libVkLayer_khronos_validation.so\n";
}

/* Keep the driver mapped until exit (the loader unloads it with the instance), so that a leak
 * report names it rather than an unknown module. */
static inline void vkt_pin_driver(const char *icd_json)
{
    FILE *f = fopen(icd_json, "r");
    if (!f) return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *at = strstr(buf, "\"library_path\"");
    char *q = at ? strchr(at + 14, '"') : NULL;
    char *e = q ? strchr(q + 1, '"') : NULL;
    if (!e) return;
    *e = '\0';
    dlopen(q + 1, RTLD_NOW | RTLD_NODELETE);
}

static inline void vkt_use_lavapipe(void)
{
    static const char *const dirs[] = {"/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
                                       "/etc/vulkan/icd.d"};
    const char *native = getenv("NTG_VK_TEST_NATIVE");
    if (native && strcmp(native, "1") == 0) return;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (strncmp(ent->d_name, "lvp_icd.", 8) != 0) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dirs[i], ent->d_name);
            setenv("VK_DRIVER_FILES", path, 1);
            setenv("VK_ICD_FILENAMES", path, 1);
            vkt_pin_driver(path);
            closedir(d);
            return;
        }
        closedir(d);
    }
}

/* The Vulkan backend class, or a skip saying why there is none (no Vulkan in this build, no
 * loader or driver on this machine). */
static inline const ntg_backend_class *vkt_need_vulkan(void)
{
    vkt_use_lavapipe();
    const ntg_backend_class *c = ntg__backend_find("vulkan");
    char info[256] = "";
    if (!c)
        cr_skip_test("this build has no vulkan backend (libvulkan or glslangValidator missing)");
    if (c->available && !c->available(info, sizeof info))
        cr_skip_test("no Vulkan driver or device here: %s", info);
    return c;
}

static inline int vkt_validating(void)
{
    const char *v = getenv("NTG_VULKAN_VALIDATION");
    return v && v[0] && strcmp(v, "0") != 0;
}

#endif /* NTG_TEST_VK_UTIL_H */
