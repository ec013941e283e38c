"""Generator metrics, one concern per module. All take numpy arrays, never a Config.

  fid.py              Frechet distance between Gaussian fits of two feature sets
  kid.py              kernel (polynomial-MMD) distance, unbiased
  inception_score.py  exp E[KL(p(y|x) || p(y))] from logits
  extractors.py       features/logits for the three above: Keras InceptionV3, the 2015
                      Inception GraphDef of the standard TF FID, or the small CNN of classifier.py
  swd.py              Laplacian-pyramid sliced Wasserstein distance (no pretrained network)
  svm.py              the DCGAN paper's D-feature + linear SVM protocol, with baselines
  realfake.py         held-out accuracy of a classifier trained on real vs generated images
"""
