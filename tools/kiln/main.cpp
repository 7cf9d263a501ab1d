// kiln — the command-line tool (build, run, inspect, bench), shaped after trtexec.
// Exit codes: 0 success; 1 an error the message on stderr explains ("kiln: error: ..."); 2 bad usage. Never a
// signal: every exception is caught here and SIGPIPE is ignored (output piped into `head` must not kill us).
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

#include "cli_support.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int usageError(const std::string& message, const std::string& command) {
  std::fprintf(stderr, "kiln: usage error: %s\nRun 'kiln %s--help' for usage.\n", message.c_str(),
               command.empty() ? "" : (command + " ").c_str());
  return kExitUsage;
}

int runMain(int argc, char** argv) {
  CLI::App app{"kiln: compile an ONNX model into an engine file and run it (trtexec-style)", "kiln"};
  app.require_subcommand(1);
  std::vector<std::unique_ptr<kiln::cli::Command>> commands;
  commands.push_back(kiln::cli::makeBuildCommand(app));
  commands.push_back(kiln::cli::makeRunCommand(app));
  commands.push_back(kiln::cli::makeInspectCommand(app));
  commands.push_back(kiln::cli::makeBenchCommand(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string command;
    for (const auto& c : commands)
      if (c->app()->parsed()) command = c->app()->get_name();
    return usageError(e.what(), command);
  }

  for (const auto& c : commands) {
    if (!c->app()->parsed()) continue;
    const std::string name = c->app()->get_name();
    if (kiln::Status usage = c->checkUsage(); !usage.isOk()) return usageError(usage.message(), name);
    if (kiln::Status s = c->execute(); !s.isOk()) {
      std::cout.flush();
      std::fprintf(stderr, "kiln: error: %s\n", s.message().c_str());
      return kExitError;
    }
    std::cout.flush();
    return kExitOk;
  }
  return usageError("no command given", "");
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return runMain(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "kiln: error: out of host memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln: error: internal error (please report): %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "kiln: error: internal error (please report): unknown exception\n");
  }
  return kExitError;
}
