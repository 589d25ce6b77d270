// Clang thread-safety annotations and a mutex the analysis understands.
//
// The macros follow abseil's absl/base/thread_annotations.h and expand to
// Clang's capability attributes; on other compilers they expand to nothing.
// CI builds the tree with clang++ -Wthread-safety -Werror, so a member marked
// FETCHPOOL_GUARDED_BY(mutex_) that is touched without mutex_ held fails the
// build instead of waiting for ThreadSanitizer to catch the race at run time.
//
// libstdc++'s std::mutex, std::lock_guard and std::unique_lock carry no
// annotations, so guarded state uses fetchpool::Mutex and MutexLock:
//   - MutexLock replaces both std::lock_guard and std::unique_lock: it can be
//     unlocked early (and relocked), and it meets BasicLockable, so it is the
//     lock argument of std::condition_variable_any::wait*.
//   - The analysis checks each lambda on its own, not as part of the
//     enclosing scope that holds the lock. A wait predicate, which the
//     condition variable calls with the lock held, says so with
//     FETCHPOOL_REQUIRES(mutex) after its parameter list.
//
// This header is public (include/) because public headers hold guarded
// members (sinks, state journal, progress); it is header-only and uses only
// the standard library.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define FETCHPOOL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define FETCHPOOL_THREAD_ANNOTATION(x)
#endif

// A type that is a lock (a "capability"): fetchpool::Mutex.
#define FETCHPOOL_CAPABILITY(name) FETCHPOOL_THREAD_ANNOTATION(capability(name))
// An RAII type that holds a capability for its lifetime: MutexLock.
#define FETCHPOOL_SCOPED_CAPABILITY FETCHPOOL_THREAD_ANNOTATION(scoped_lockable)
// The member may be read or written only with the given mutex held.
#define FETCHPOOL_GUARDED_BY(x) FETCHPOOL_THREAD_ANNOTATION(guarded_by(x))
// The pointee (not the pointer) is guarded by the given mutex.
#define FETCHPOOL_PT_GUARDED_BY(x) FETCHPOOL_THREAD_ANNOTATION(pt_guarded_by(x))
// Lock order: this mutex is taken before / after the given ones.
#define FETCHPOOL_ACQUIRED_BEFORE(...) FETCHPOOL_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define FETCHPOOL_ACQUIRED_AFTER(...) FETCHPOOL_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// The caller must hold the given mutexes.
#define FETCHPOOL_REQUIRES(...) FETCHPOOL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// The function takes / gives back the given mutexes (none named: `this`).
#define FETCHPOOL_ACQUIRE(...) FETCHPOOL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define FETCHPOOL_RELEASE(...) FETCHPOOL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define FETCHPOOL_ACQUIRE_SHARED(...) FETCHPOOL_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define FETCHPOOL_RELEASE_SHARED(...) FETCHPOOL_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define FETCHPOOL_RELEASE_GENERIC(...) FETCHPOOL_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define FETCHPOOL_TRY_ACQUIRE(...) FETCHPOOL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// The caller must not hold the given mutexes (the function takes them itself).
#define FETCHPOOL_EXCLUDES(...) FETCHPOOL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// The function returns a reference to the given mutex.
#define FETCHPOOL_RETURN_CAPABILITY(x) FETCHPOOL_THREAD_ANNOTATION(lock_returned(x))
// Opt a function out of the analysis; say why next to each use.
#define FETCHPOOL_NO_THREAD_SAFETY_ANALYSIS FETCHPOOL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace fetchpool {

// std::mutex with annotations. Same cost: every call forwards inline.
class FETCHPOOL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() FETCHPOOL_ACQUIRE() { mutex_.lock(); }
  void unlock() FETCHPOOL_RELEASE() { mutex_.unlock(); }
  bool try_lock() FETCHPOOL_TRY_ACQUIRE(true) { return mutex_.try_lock(); }

 private:
  std::mutex mutex_;
};

// Holds a Mutex from construction to destruction, like std::lock_guard, and,
// like std::unique_lock, may let it go early with unlock() and take it again
// with lock(); condition_variable_any::wait does both while it sleeps.
class FETCHPOOL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) FETCHPOOL_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() FETCHPOOL_RELEASE() {
    if (held_) mutex_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void lock() FETCHPOOL_ACQUIRE() {
    mutex_.lock();
    held_ = true;
  }
  void unlock() FETCHPOOL_RELEASE() {
    held_ = false;
    mutex_.unlock();
  }

 private:
  Mutex& mutex_;
  bool held_ = true;
};

// std::shared_mutex with annotations: many readers or one writer.
class FETCHPOOL_CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() FETCHPOOL_ACQUIRE() { mutex_.lock(); }
  void unlock() FETCHPOOL_RELEASE() { mutex_.unlock(); }
  void lock_shared() FETCHPOOL_ACQUIRE_SHARED() { mutex_.lock_shared(); }
  void unlock_shared() FETCHPOOL_RELEASE_SHARED() { mutex_.unlock_shared(); }

 private:
  std::shared_mutex mutex_;
};

// Holds a SharedMutex exclusively (WriterLock) or shared (ReaderLock) for
// its lifetime.
class FETCHPOOL_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mutex) FETCHPOOL_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~WriterLock() FETCHPOOL_RELEASE() { mutex_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mutex_;
};
class FETCHPOOL_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mutex) FETCHPOOL_ACQUIRE_SHARED(mutex) : mutex_(mutex) { mutex_.lock_shared(); }
  ~ReaderLock() FETCHPOOL_RELEASE_GENERIC() { mutex_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mutex_;
};

}  // namespace fetchpool
