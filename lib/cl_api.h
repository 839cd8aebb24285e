/* cl_api: what the shared library exports.
 *
 * The library is built with -fvisibility=hidden, so that only its public
 * interface is visible to programs (internal helpers can change freely).
 * Every public header wraps its declarations in CL_API_BEGIN / CL_API_END;
 * internal headers (cl_real.h, cl_lines.h, cl_tagger_impl.h,
 * cl_registry.h) do not, and are not installed. */
#ifndef CL_API_H
#define CL_API_H

#define CL_API_BEGIN _Pragma("GCC visibility push(default)")
#define CL_API_END _Pragma("GCC visibility pop")

#endif
