"""xf.keras.applications: MobileNetV2 and ResNet50/101/152 as Keras 2.12 builds them, with
Keras' ImageNet weights; the other architectures are refused, naming what exists."""

from xlaflow.keras.applications import imagenet_utils as imagenet_utils
from xlaflow.keras.applications import mobilenet_v2 as mobilenet_v2
from xlaflow.keras.applications import resnet as resnet
from xlaflow.keras.applications import resnet50 as resnet50
from xlaflow.keras.applications.mobilenet_v2 import MobileNetV2 as MobileNetV2
from xlaflow.keras.applications.resnet import ResNet50 as ResNet50
from xlaflow.keras.applications.resnet import ResNet101 as ResNet101
from xlaflow.keras.applications.resnet import ResNet152 as ResNet152

_PROVIDED = "MobileNetV2, ResNet50, ResNet101 and ResNet152"

# tf.keras.applications' other architectures and modules: an AttributeError still (hasattr
# stays False), naming what xlaflow provides
_NOT_PROVIDED = {
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1",
    "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6",
    "EfficientNetB7", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
    "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV3Large", "MobileNetV3Small",
    "NASNetLarge", "NASNetMobile", "RegNetX002", "RegNetY002", "ResNet50V2", "ResNet101V2",
    "ResNet152V2", "ResNetRS50", "VGG16", "VGG19", "Xception",
    "convnext", "densenet", "efficientnet", "efficientnet_v2", "inception_resnet_v2",
    "inception_v3", "mobilenet", "mobilenet_v3", "nasnet", "regnet", "resnet_rs",
    "resnet_v2", "vgg16", "vgg19", "xception",
}


def __getattr__(name):
    if name in _NOT_PROVIDED:
        raise AttributeError(
            f"module 'xlaflow.keras.applications' has no attribute {name!r}: "
            f"keras.applications.{name} is not provided; xlaflow has {_PROVIDED} "
            "(keras.applications.mobilenet_v2, .resnet, .resnet50), or build the network "
            "from keras.layers")
    raise AttributeError(f"module 'xlaflow.keras.applications' has no attribute {name!r}")
