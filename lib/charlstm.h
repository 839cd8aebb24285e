/* charlstm.h: the whole public interface of libcharlstm in one include.
 * Every public header is here, and only these are installed; see
 * docs/architecture.md for what each module does. */
#ifndef CHARLSTM_H
#define CHARLSTM_H

#include "cl_annotate.h"
#include "cl_ckpt.h"
#include "cl_classifier.h"
#include "cl_clfdata.h"
#include "cl_clfeval.h"
#include "cl_clftrain.h"
#include "cl_conllu.h"
#include "cl_dist.h"
#include "cl_encoder.h"
#include "cl_error.h"
#include "cl_feat.h"
#include "cl_generate.h"
#include "cl_ids.h"
#include "cl_isa.h"
#include "cl_labeler.h"
#include "cl_infer.h"
#include "cl_lm.h"
#include "cl_lmtrain.h"
#include "cl_mm.h"
#include "cl_model.h"
#include "cl_ngram.h"
#include "cl_nn.h"
#include "cl_optim.h"
#include "cl_params.h"
#include "cl_rng.h"
#include "cl_seg.h"
#include "cl_sample.h"
#include "cl_score.h"
#include "cl_seqrnn.h"
#include "cl_tagger.h"
#include "cl_text.h"
#include "cl_tok.h"
#include "cl_train.h"
#include "cl_tsv.h"
#include "cl_udscore.h"

#endif
