// forgetlab: the researcher's command line.
#include "client/cli.h"

int main(int argc, char** argv) { return forgetlab::RunCli(argc, argv); }
